/**
 * The client side of one generation session: a bidirectional `Session` stream whose first message
 * opens the session; steps are written as they come and their results matched by `step_id`, so
 * several steps may be in flight (the host runs them in order). Each step has its own deadline; a
 * step that times out is rejected while the stream stays usable (a retry at the same position is
 * idempotent). A stream that ends with a status rejects every pending and later step with that error.
 */
import type * as grpc from '@grpc/grpc-js';
import { SwarmpathError, CancelledError, DeadlineExceededError, InternalError, UnavailableError, UnknownSessionError } from '../errors.ts';
import type { F32 } from '../runtime-types.ts';
import type { CallOpts, ExpertSession, WireDtype } from '../transport-types.ts';
import { linkAbort } from './call-options.ts';
import { fromServiceError } from './errors.ts';
import { decodeTensor, encodeTensor, protoDtype } from './tensor-codec.ts';
import type { SessionRequestMsg, SessionResponseMsg } from './wire-types.ts';

interface Pending {
  resolve(t: F32): void;
  reject(e: SwarmpathError): void;
  dims: readonly number[];
  cleanup(): void;
}

/** What the session client needs of the stream (a grpc-js ClientDuplexStream). */
export type SessionStream = grpc.ClientDuplexStream<SessionRequestMsg, SessionResponseMsg>;

/** Opens a session on `stream` (already started); resolves once the host answers `opened`. */
export function openSessionOnStream(stream: SessionStream, address: string, init: {
  expertId: string; maxLength: number; clientSessionId?: string; opts: CallOpts;
}): Promise<ExpertSession & { readonly sessionId: string; readonly kvReservedBytes: number }> {
  const wire: WireDtype = init.opts.wireDtype ?? 'float32';
  const pending = new Map<number, Pending>();
  let nextStepId = 1;
  let failure: SwarmpathError | undefined;
  let closed = false;
  let sessionId = '';
  let kvReservedBytes = 0;

  return new Promise((resolveOpen, rejectOpen) => {
    let opened = false;
    const failAll = (err: SwarmpathError) => {
      if (!failure) failure = err;
      closed = true;
      for (const p of pending.values()) { p.cleanup(); p.reject(err); }
      pending.clear();
      if (!opened) { opened = true; clearTimeout(openTimer); detachOpen(); rejectOpen(err); }
    };
    const openTimer = setTimeout(() => {
      failAll(new DeadlineExceededError(`session open on ${address} exceeded its deadline`));
      stream.cancel();
    }, Math.max(0, init.opts.deadlineMs - Date.now()));
    const detachOpen = linkAbort(init.opts.signal, stream);

    stream.on('data', (msg: SessionResponseMsg) => {
      if (msg.kind === 'opened' && msg.opened && !opened) {
        opened = true;
        clearTimeout(openTimer);
        detachOpen();
        sessionId = msg.opened.sessionId;
        kvReservedBytes = msg.opened.kvReservedBytes;
        resolveOpen(session);
      } else if (msg.kind === 'step' && msg.step) {
        const p = pending.get(msg.step.stepId);
        if (!p) return; // a step that already timed out or was cancelled
        pending.delete(msg.step.stepId);
        p.cleanup();
        try {
          p.resolve(decodeTensor(msg.step.hidden, p.dims, 'step result'));
        } catch (err) {
          p.reject(new InternalError(`host ${address} sent a bad step result: ${(err as Error).message}`));
        }
      }
    });
    stream.on('error', (err) => failAll(fromServiceError(err, address)));
    // A non-OK status arrives as 'error' first; an OK status means the host ended the session.
    stream.on('status', () => failAll(new UnavailableError(`session stream to ${address} ended`)));

    const session = {
      get closed() { return closed; },
      get sessionId() { return sessionId; },
      get kvReservedBytes() { return kvReservedBytes; },
      step(hidden: F32, position: number, opts: CallOpts): Promise<F32> {
        if (closed) {
          return Promise.reject(failure ?? new UnknownSessionError(`session ${sessionId} on ${address} is closed`));
        }
        const stepId = nextStepId++;
        return new Promise<F32>((resolve, reject) => {
          const timer = setTimeout(() => {
            if (!pending.delete(stepId)) return;
            cleanup();
            reject(new DeadlineExceededError(`session step at position ${position} on ${address} exceeded its deadline`));
          }, Math.max(0, opts.deadlineMs - Date.now()));
          const onAbort = () => {
            if (!pending.delete(stepId)) return;
            cleanup();
            reject(new CancelledError(`session step at position ${position} was cancelled`));
          };
          opts.signal?.addEventListener('abort', onAbort, { once: true });
          const cleanup = () => { clearTimeout(timer); opts.signal?.removeEventListener('abort', onAbort); };
          pending.set(stepId, { resolve, reject, dims: hidden.dims, cleanup });
          if (opts.signal?.aborted) { onAbort(); return; }
          stream.write({ step: { stepId, position, hidden: encodeTensor(hidden, opts.wireDtype ?? wire) } });
        });
      },
      close(): void {
        if (closed) return;
        closed = true;
        failure = new UnknownSessionError(`session ${sessionId} on ${address} was closed`);
        for (const p of pending.values()) { p.cleanup(); p.reject(new CancelledError('session closed with a step in flight')); }
        pending.clear();
        try {
          stream.write({ close: {} });
          stream.end();
        } catch { /* the stream is already gone */ }
      },
    };

    stream.write({ open: { expertId: init.expertId, maxLength: init.maxLength, replyDtype: protoDtype(wire), clientSessionId: init.clientSessionId ?? '' } });
  });
}
