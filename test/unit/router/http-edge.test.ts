/**
 * The HTTP edge on in-memory sockets (the server's own parser and writer, no port) with a scripted
 * generator: admission before the body is read, the body deadline, fair admission between keys,
 * the write timeout of a stream whose client stopped reading, node's parser refusals (bad requests,
 * huge headers) answered with JSON, and a refused body drained so its connection serves on.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { CancelledError } from '../../../shared/errors.ts';
import { createMetricsRegistry, routerMetrics } from '../../../shared/telemetry/metrics.ts';
import type { GenerateRequest, GenerateResult, Generator, OnText } from '../../../router/generation.ts';
import type { ReplicaPool } from '../../../router/replica-pool.ts';
import { createRouterApi, type RouterApiInit } from '../../../router/http/server.ts';
import { toyRuntime } from './fakes.ts';
import { inject, injectRaw } from './inject.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/**
 * A generator whose requests whose prompt starts with "hold" wait until `release()`, and whose
 * requests whose prompt starts with "endless" send text until their signal aborts.
 */
class ScriptedGenerator implements Generator {
  started: string[] = [];
  aborted = 0;
  #held: (() => void)[] = [];
  release(): void { for (const r of this.#held.splice(0)) r(); }
  get held(): number { return this.#held.length; }

  async generate(req: GenerateRequest, onText?: OnText): Promise<GenerateResult> {
    const prompt = new TextDecoder().decode(req.prompt);
    this.started.push(prompt);
    const signal = req.signal as AbortSignal;
    signal.addEventListener('abort', () => { this.aborted++; }, { once: true });
    const abortable = (p: Promise<void>) => Promise.race([p, new Promise<never>((_r, reject) => {
      const fail = () => reject(new CancelledError());
      if (signal.aborted) fail(); else signal.addEventListener('abort', fail, { once: true });
    })]);
    if (prompt.startsWith('hold')) await abortable(new Promise<void>((r) => this.#held.push(r)));
    if (prompt.startsWith('endless')) {
      for (;;) await abortable(Promise.resolve(onText?.('x'.repeat(4096), { hosts: ['h'], path: req.path, tokens: 1 } as never)));
    }
    await onText?.('ok', { hosts: ['h'], path: req.path, tokens: 1 } as never);
    return { text: 'ok', finishReason: 'length', promptTokens: req.prompt.length, completionTokens: 1, path: req.path,
      paths: [req.path], reroutes: 0, hosts: ['h'], replays: 0 };
  }
}

function edgeApi(init: RouterApiInit) {
  const generator = new ScriptedGenerator();
  const reg = createMetricsRegistry();
  const pool = { view: async () => ({}), readiness: async () => ({ ready: true, missing: [] }) } as Pick<ReplicaPool, 'view' | 'readiness'>;
  const api = createRouterApi(init, {
    runtime: toyRuntime(), generator, pool, metrics: routerMetrics(reg), metricsText: () => reg.text(), log: silentLogger, randomSeed: () => 1,
  });
  return { api, server: api.server, generator };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const completion = (prompt: string, extra: object = {}) => ({ prompt, max_tokens: 1, ...extra });

describe('HTTP edge (in-memory sockets)', () => {
  it('takes the admission slot before reading the body: a refused request is answered while its body is unsent', { timeout: 5000 }, async () => {
    const { server, generator, api } = edgeApi({ maxConcurrent: 1, maxQueue: 0, spareSlots: 0 });
    const running = inject(server, { path: '/v1/completions', body: completion('hold me') });
    await waitFor('the first request to run', () => generator.held === 1, { intervalMs: 2 });
    // Only 3 bytes of the body are ever sent: the 429 cannot wait for the rest.
    const refused = await inject(server, { path: '/v1/completions', body: completion('never read'), partialBody: 3 });
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json().error.type, 'rate_limit_error');
    assert.deepEqual(generator.started, ['hold me']);
    generator.release();
    assert.equal((await running).status, 200);
    assert.equal(api.inflight, 0);
  });

  it('answers 408 when an admitted body does not arrive in time, and frees the slot', { timeout: 5000 }, async () => {
    const { server } = edgeApi({ maxConcurrent: 1, maxQueue: 0, bodyTimeoutMs: 50 });
    const body = JSON.stringify(completion('slow'));
    const raw = await injectRaw(server, `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 4)}`);
    const [head, text] = raw.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 408 /);
    assert.match(head, /\r\nconnection: close\r\n/i, 'the stalled connection is not kept for another request');
    assert.match(JSON.parse(text).error.message, /did not arrive within 0\.05 s/);
    const next = await inject(server, { path: '/v1/completions', body: completion('next') });
    assert.equal(next.status, 200, 'the slot was released');
  });

  it('gives a flooding key 429 + Retry-After beyond its share while another key runs at once', { timeout: 5000 }, async () => {
    const { server, generator } = edgeApi({ apiKeys: ['flood', 'lone'], maxConcurrent: 4, maxQueue: 32, maxQueuePerClient: 1, spareSlots: 1 });
    const statuses: number[] = [];
    const flood = Array.from({ length: 8 }, () => inject(server, { path: '/v1/completions', body: completion('hold'), headers: bearer('flood') })
      .then((r) => { statuses.push(r.status); return r; }));
    // 3 run (4 slots minus the spare), 1 waits (its queue), 4 are refused.
    await waitFor(() => `4 refusals (${JSON.stringify(statuses)}, ${generator.held} held)`, () => statuses.length === 4 && generator.held === 3, { intervalMs: 2 });
    assert.deepEqual(statuses, [429, 429, 429, 429]);
    const lone = await inject(server, { path: '/v1/completions', body: completion('lone'), headers: bearer('lone') });
    assert.equal(lone.status, 200, 'the other key ran while the flood held its slots');
    generator.release();
    await waitFor('the waiting flood request to run', () => generator.held === 1, { intervalMs: 2 });
    generator.release();
    const done = await Promise.all(flood);
    assert.deepEqual(done.map((r) => r.status).sort(), [200, 200, 200, 200, 429, 429, 429, 429]);
    assert.ok(done.filter((r) => r.status === 429).every((r) => Number(r.headers['retry-after']) >= 1));
  });

  it('cuts off a streaming client that stops reading and ends its generation', { timeout: 5000 }, async () => {
    const { server, generator, api } = edgeApi({ writeTimeoutMs: 50 });
    const body = JSON.stringify(completion('endless', { stream: true }));
    const got = await injectRaw(server, `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`, { hold: true });
    assert.equal(got, '', 'the client read nothing');
    await waitFor('the generation to end', () => api.inflight === 0, { intervalMs: 5 });
    assert.equal(generator.aborted, 1);
  });

  // Stalled headers (408) need a listening server (node checks timeouts only there): test/integration/router/http-edge-fuzz.test.ts.
  it("answers node's parser refusals and CONNECT with a JSON error and closes: malformed requests, huge headers", { timeout: 5000 }, async () => {
    const { server } = edgeApi({});
    const cases: [string, number][] = [
      ['BREW /pot HTCPCP/1.0\r\n\r\n', 400],
      ['GET / HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n', 400],
      ['POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n', 400],
      [`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n', 404],
    ];
    for (const [bytes, status] of cases) {
      const raw = await injectRaw(server, bytes);
      const [head, body] = raw.split('\r\n\r\n');
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(bytes.slice(0, 40))} → ${raw.slice(0, 80)}`);
      assert.match(head, /connection: close/i);
      const e = JSON.parse(body).error;
      assert.ok(typeof e.message === 'string' && e.type === 'invalid_request_error' && typeof e.code === 'string', body);
      assert.match(head, new RegExp(`content-length: ${Buffer.byteLength(body)}\r\n`, 'i'));
    }
  });

  it('drains a refused body within bounds: the connection then serves on; past 4x the limit it is cut', { timeout: 5000 }, async () => {
    const { server } = edgeApi({ bodyLimitBytes: 100 });
    const head = (length: number, close = '') => `POST /v1/completions HTTP/1.1\r\nhost: x\r\n${close}content-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
    const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    const small = JSON.stringify(completion('hi'));
    const next = head(small.length, 'connection: close\r\n') + small;
    // Refused by its declared length before its body came; the body follows the answer and is
    // drained, and the next request on the connection is served.
    const body = JSON.stringify({ prompt: 'x'.repeat(300) });
    const drained = await injectRaw(server, head(body.length) + body.slice(0, 10), { after: body.slice(10) + next });
    assert.deepEqual(statuses(drained), [413, 200], drained.slice(0, 300));
    // Past 4x the limit (400 bytes) the rest of a body is not waited for: the connection is cut.
    const cut = await injectRaw(server, head(5000) + 'x'.repeat(450), { after: 'x'.repeat(100) });
    assert.deepEqual(statuses(cut), [413], cut.slice(0, 300));
  });
});
