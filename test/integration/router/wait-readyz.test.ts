/**
 * router/supervisor/wait-readyz.ts against a local HTTP server: it polls GET /readyz until 200, gives
 * up at its deadline naming the last answer, and stops at once on its signal.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitReadyz } from '../../../router/supervisor/wait-readyz.ts';

let server: http.Server;
let base = '';
/** Answers of /readyz still to give before 200 (Infinity: never ready). */
let notReadyFor = 0;
const seen: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    const ready = notReadyFor-- <= 0;
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ready, missing: ready ? [] : ['L0.0'] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('waitReadyz', () => {
  it('polls until /readyz answers 200, without a key', async () => {
    notReadyFor = 2;
    seen.length = 0;
    assert.equal(await waitReadyz({ http: base, deadlineMs: Date.now() + 10_000, intervalMs: 10 }), 3);
    assert.deepEqual(seen, ['GET /readyz -', 'GET /readyz -', 'GET /readyz -']);
  });

  it('fails at its deadline with the last answer', async () => {
    notReadyFor = Infinity;
    await assert.rejects(waitReadyz({ http: base, deadlineMs: Date.now() + 1000, intervalMs: 10 }),
      /not ready \(GET \/readyz: 503 \{"ready":false,"missing":\["L0.0"\]\}\)/);
  });

  it('fails at its deadline when nothing listens', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(waitReadyz({ http: `http://127.0.0.1:${port}`, deadlineMs: Date.now() + 200, intervalMs: 10 }), /not ready/);
  });

  it('stops when its signal aborts', async () => {
    notReadyFor = Infinity;
    const ac = new AbortController();
    const t0 = Date.now();
    const p = waitReadyz({ http: base, deadlineMs: Date.now() + 60_000, intervalMs: 10, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e: unknown) => e instanceof Error && (e.name === 'AbortError' || /cancelled/.test(e.message)));
    assert.ok(Date.now() - t0 < 5000);
  });
});
