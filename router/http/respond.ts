/**
 * Writing responses: JSON bodies, OpenAI error bodies (with Retry-After where known) and server-sent
 * events (`data: {…}\n\n` chunks, then `data: [DONE]`). Writes after the client left are dropped.
 */
import type { ServerResponse } from 'node:http';
import { errorResponse } from './errors.ts';

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
  const r = errorResponse(err);
  if (res.headersSent) return r.status;
  const headers: Record<string, string> = {};
  if (r.retryAfterS !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(r.retryAfterS)));
  sendJson(res, r.status, r.body, headers);
  return r.status;
}

/** A server-sent events stream; the headers go out with the first event. */
export class SseWriter {
  readonly #res: ServerResponse;
  constructor(res: ServerResponse) {
    this.#res = res;
  }

  get started(): boolean {
    return this.#res.headersSent;
  }

  /** Writes one `data:` event; resolves when the socket can take more (backpressure). */
  async send(data: unknown): Promise<void> {
    const res = this.#res;
    if (res.writableEnded || res.destroyed) return;
    if (!res.headersSent) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    }
    if (!res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)) {
      await new Promise<void>((resolve) => {
        const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
        res.on('drain', done);
        res.on('close', done);
      });
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
    res.write(`data: ${JSON.stringify(errorResponse(err).body)}\n\n`);
    res.end();
  }
}
