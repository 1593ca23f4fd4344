/**
 * Per-call plumbing shared by the client's unary, server-streaming and session calls: deadline,
 * traceparent metadata and abort-signal wiring.
 */
import * as grpc from '@grpc/grpc-js';
import type { CallOpts } from '../transport-types.ts';

/** Metadata of a call: the W3C `traceparent` when the caller has one. */
export function callMetadata(opts: Pick<CallOpts, 'traceparent'>): grpc.Metadata {
  const md = new grpc.Metadata();
  if (opts.traceparent) md.set('traceparent', opts.traceparent);
  return md;
}

/** grpc-js call options for an absolute deadline (ms since the epoch). */
export function deadlineOptions(deadlineMs: number): grpc.CallOptions {
  return { deadline: new Date(deadlineMs) };
}

/** Cancels `call` when `signal` aborts; returns the function that detaches the listener. */
export function linkAbort(signal: AbortSignal | undefined, call: { cancel(): void }): () => void {
  if (!signal) return () => {};
  if (signal.aborted) { call.cancel(); return () => {}; }
  const onAbort = () => call.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}
