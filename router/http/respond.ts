/**
 * Writing responses: JSON bodies, OpenAI error bodies (with Retry-After where known; a 5xx names the
 * request id) and server-sent events (`data: {…}\n\n` chunks, then `data: [DONE]`). Writes after the
 * client left are dropped. A client that stops reading is cut off: an event waits for the socket to
 * drain at most `writeTimeoutMs`, then the connection is destroyed (which aborts the generation:
 * server.ts) and the send throws; a finished answer that the client does not take within that time
 * is dropped the same way (`destroyUnlessFinished`).
 */
import type { ServerResponse } from 'node:http';
import { CancelledError } from '../../shared/errors.ts';
import { errorResponse } from './errors.ts';

/** The header naming a request in the router's log (and in a 5xx message). */
export const REQUEST_ID_HEADER = 'x-request-id';
/** Default longest wait for a client to take more of a response, ms. */
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

const requestIdOf = (res: ServerResponse): string | undefined => {
  const id = res.getHeader(REQUEST_ID_HEADER);
  return typeof id === 'string' ? id : undefined;
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers `err` in OpenAI's shape; returns the status sent. */
export function sendError(res: ServerResponse, err: unknown): number {
  const r = errorResponse(err, requestIdOf(res));
  if (res.headersSent) return r.status;
  const headers: Record<string, string> = {};
  if (r.retryAfterS !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(r.retryAfterS)));
  sendJson(res, r.status, r.body, headers);
  return r.status;
}

/** Destroys `res`'s connection unless the response is fully sent within `timeoutMs`. */
export function destroyUnlessFinished(res: ServerResponse, timeoutMs: number): void {
  if (res.writableFinished || res.destroyed) return;
  const timer = setTimeout(() => res.destroy(), timeoutMs);
  const done = () => { clearTimeout(timer); res.off('finish', done); res.off('close', done); };
  res.on('finish', done);
  res.on('close', done);
}

/** A server-sent events stream; the headers go out with the first event. */
export class SseWriter {
  readonly #res: ServerResponse;
  readonly #writeTimeoutMs: number;
  constructor(res: ServerResponse, writeTimeoutMs = DEFAULT_WRITE_TIMEOUT_MS) {
    this.#res = res;
    this.#writeTimeoutMs = writeTimeoutMs;
  }

  get started(): boolean {
    return this.#res.headersSent;
  }

  /**
   * Writes one `data:` event; resolves when the socket can take more (backpressure). Throws
   * CancelledError, having destroyed the connection, when it cannot within the write timeout.
   */
  async send(data: unknown): Promise<void> {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    if (!res.headersSent) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    }
    if (res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)) return;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => done(false), this.#writeTimeoutMs);
      const done = (ok: boolean) => { clearTimeout(timer); res.off('drain', onDrain); res.off('close', onDrain); resolve(ok); };
      const onDrain = () => done(true);
      res.on('drain', onDrain);
      res.on('close', onDrain);
    });
    if (!drained) {
      res.destroy();
      throw new CancelledError(`the client took no data for ${this.#writeTimeoutMs / 1000} s`);
    }
  }

  /** Ends the stream with `data: [DONE]`. */
  async done(): Promise<void> {
    await this.send('[DONE]');
    if (!this.#res.writableEnded) this.#res.end();
  }

  /** Ends the stream with an error event (the status is already 200). */
  fail(err: unknown): void {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    res.write(`data: ${JSON.stringify(errorResponse(err, requestIdOf(res)).body)}\n\n`);
    res.end();
  }
}
