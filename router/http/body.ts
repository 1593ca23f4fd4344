/**
 * Request bodies: read as JSON with a size limit (413 when larger, by Content-Length before anything
 * is read or while reading) and a deadline (408 when the body has not arrived in time), 400 when not
 * valid JSON or not an object; bounded by the request's AbortSignal. And the rest of a body nobody
 * read (a refused request): drained within bounds so that the client can read its answer, then the
 * connection is cut.
 */
import type { IncomingMessage } from 'node:http';
import { CancelledError, InvalidArgumentError } from '../../shared/errors.ts';
import { BodyTimeoutError, TooLargeError } from './errors.ts';

/** Default body limit: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1 << 20;
/** Default time to receive a body once the request may run, ms. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

export interface BodyLimits {
  /** Largest body, bytes. */
  limitBytes: number;
  /** Longest read, ms, from the call. */
  timeoutMs: number;
}

/** Throws TooLargeError when the request declares a body larger than `limitBytes` (nothing read). */
export function refuseDeclaredTooLarge(req: IncomingMessage, limitBytes: number): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw new TooLargeError(limitBytes);
}

export async function readJsonObject(req: IncomingMessage, limits: BodyLimits, signal?: AbortSignal): Promise<Record<string, unknown>> {
  refuseDeclaredTooLarge(req, limits.limitBytes);
  const text = (await readAll(req, limits, signal)).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`the body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError('the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function readAll(req: IncomingMessage, limits: BodyLimits, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const fail = (err: Error) => { cleanup(); reject(err); };
    const onAbort = () => fail(new CancelledError('client went away'));
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limits.limitBytes) fail(new TooLargeError(limits.limitBytes));
      else chunks.push(c);
    };
    const onEnd = () => { cleanup(); resolve(Buffer.concat(chunks)); };
    const onError = (e: Error) => fail(new CancelledError(`reading the body failed: ${e.message}`));
    const timer = setTimeout(() => fail(new BodyTimeoutError(limits.timeoutMs)), limits.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      req.off('data', onData); req.off('end', onEnd); req.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) { onAbort(); return; }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Reads and drops what is left of a request's body, so that a client still sending it reads the
 * answer (a socket closed on unread data resets the connection, and the client may lose the
 * answer); past `maxBytes` or `timeoutMs` the connection is destroyed instead. A body read to its
 * end leaves the connection open for the next request.
 */
export function discardRest(req: IncomingMessage, bounds: { maxBytes: number; timeoutMs: number }): void {
  if (req.complete || req.destroyed) return;
  let seen = 0;
  const stop = () => { cleanup(); req.socket?.destroy(); };
  const onData = (c: Buffer) => { seen += c.length; if (seen > bounds.maxBytes) stop(); };
  const cleanup = () => { clearTimeout(timer); req.off('data', onData); req.off('end', cleanup); req.off('close', cleanup); };
  const timer = setTimeout(stop, bounds.timeoutMs);
  req.on('data', onData);
  req.on('end', cleanup);
  req.on('close', cleanup);
  req.resume();
}
