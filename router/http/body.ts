/**
 * Reads a request body as JSON with a size limit: 413 when larger (by Content-Length or while
 * reading), 400 when not valid JSON or not an object. Bounded by the request's AbortSignal.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError, SwarmpathError } from '../../shared/errors.ts';
import { TooLargeError } from './errors.ts';

/** Default body limit: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1 << 20;

export async function readJsonObject(req: IncomingMessage, limitBytes: number, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw new TooLargeError(limitBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => { cleanup(); reject(new SwarmpathError('CANCELLED', 'client went away')); };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limitBytes) { cleanup(); req.resume(); reject(new TooLargeError(limitBytes)); return; }
      chunks.push(c);
    };
    const onEnd = () => { cleanup(); resolve(); };
    const onError = (e: Error) => { cleanup(); reject(new SwarmpathError('CANCELLED', `reading the body failed: ${e.message}`)); };
    const cleanup = () => {
      req.off('data', onData); req.off('end', onEnd); req.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const text = Buffer.concat(chunks).toString('utf8');
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
