import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { createMetricsRegistry, routerMetrics } from '../../../shared/telemetry/metrics.ts';
import { createGenerator } from '../../../router/generation.ts';
import { createReplicaPool, type ReplicaPoolComponents } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createRouterApi } from '../../../router/http/server.ts';
import type { RouterApiInit } from '../../../router/http/server.ts';
import { FakeDiscovery, FakeHost, referenceText, toyRuntime } from './fakes.ts';
import { inject } from './inject.ts';
import { waitFor } from '../../helpers/wait-for.ts';

function api(init: RouterApiInit = {}, hosts?: FakeHost[], poolExtra: Partial<ReplicaPoolComponents> = {}) {
  const runtime = toyRuntime();
  const fleet = hosts ?? [
    new FakeHost('a0', ['L0.0', 'L0.1']), new FakeHost('a1', ['L0.0', 'L0.1']),
    new FakeHost('b0', ['L1.0', 'L1.1']), new FakeHost('b1', ['L1.0', 'L1.1']),
  ];
  const discovery = new FakeDiscovery(fleet);
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: 100, pollMs: 20, cacheTtlMs: 50 },
    { discovery, balancer: new ReplicaBalancer(), connect: discovery.connect, log: silentLogger, ...poolExtra });
  const generator = createGenerator({}, { runtime, pool, log: silentLogger });
  const reg = createMetricsRegistry();
  const a = createRouterApi(init, {
    runtime, generator, pool, metrics: routerMetrics(reg), metricsText: () => reg.text(), log: silentLogger,
    randomSeed: () => 99,
  });
  return { api: a, runtime, hosts: fleet, server: a.server };
}

describe('HTTP API (in-memory sockets, fake hosts)', () => {
  it('POST /v1/completions answers OpenAI shape with usage and the swarmpath field', async () => {
    const { server, runtime } = api();
    const r = await inject(server, { path: '/v1/completions', body: { model: 'toy', prompt: 'hello', max_tokens: 12, seed: 5 } });
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.equal(b.object, 'text_completion');
    assert.match(b.id, /^cmpl-/);
    assert.equal(b.model, 'toy');
    assert.equal(typeof b.created, 'number');
    assert.equal(b.choices.length, 1);
    assert.equal(b.choices[0].finish_reason, 'length');
    assert.deepEqual(b.usage, { prompt_tokens: 5, completion_tokens: 12, total_tokens: 17 });
    assert.deepEqual(b.swarmpath.path, ['L0.0', 'L1.0']);
    assert.equal(b.swarmpath.hosts.length, 2);
    assert.equal(b.swarmpath.seed, 5);
    const want = await referenceText(runtime, 'hello', ['L0.0', 'L1.0'], 12, 5, { temperature: 1, topP: 1 });
    assert.equal(b.choices[0].text, want);
  });

  it('draws a seed when absent and reports it', async () => {
    const { server } = api();
    const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hello' } });
    assert.equal(r.json().swarmpath.seed, 99);
  });

  it('streams completions as SSE chunks then [DONE], with the same text as non-streaming', async () => {
    const { server } = api();
    const body = { prompt: 'hello', max_tokens: 30, seed: 11, temperature: 0.7 };
    const plain = (await inject(server, { path: '/v1/completions', body })).json();
    const r = await inject(server, { path: '/v1/completions', body: { ...body, stream: true } });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/event-stream/);
    const ev = r.events();
    assert.equal(ev.at(-1), '[DONE]');
    const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
    assert.ok(chunks.length > 2);
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), plain.choices[0].text);
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'length');
    assert.deepEqual(last.usage, plain.usage);
    assert.deepEqual(last.swarmpath.path, plain.swarmpath.path);
  });

  it('POST /v1/chat/completions answers a message, and streams deltas', async () => {
    const { server } = api();
    const body = { messages: [{ role: 'user', content: 'hi there' }], max_tokens: 20, seed: 3 };
    const r = await inject(server, { path: '/v1/chat/completions', body });
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.equal(b.object, 'chat.completion');
    assert.equal(b.choices[0].message.role, 'assistant');
    assert.equal(typeof b.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(b.choices[0].finish_reason));
    const s = await inject(server, { path: '/v1/chat/completions', body: { ...body, stream: true } });
    const chunks = s.events().slice(0, -1).map((e) => JSON.parse(e));
    assert.equal(chunks[0].object, 'chat.completion.chunk');
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), b.choices[0].message.content);
    assert.equal(chunks.at(-1).choices[0].finish_reason, b.choices[0].finish_reason);
  });

  it('answers every kind of bad input with its status and an OpenAI error body', async () => {
    const { server } = api({ bodyLimitBytes: 1000 });
    const cases: [string, unknown, number][] = [
      ['/v1/completions', '{not json', 400],
      ['/v1/completions', '[1,2]', 400],
      ['/v1/completions', { prompt: 5 }, 400],
      ['/v1/completions', { prompt: 'hi', max_tokens: -5 }, 400],
      ['/v1/completions', { prompt: 'hi', max_tokens: 1e9 }, 400],
      ['/v1/completions', { prompt: 'hi', temperature: 'warm' }, 400],
      ['/v1/completions', { prompt: 'hi', model: 'gpt-4o' }, 404],
      ['/v1/completions', { prompt: 'x'.repeat(2000) }, 413],
      ['/v1/chat/completions', { model: 'toy' }, 400],
      ['/v1/chat/completions', { messages: [{ role: 'user' }] }, 400],
      ['/v1/route', { nope: 1 }, 400],
      ['/v1/nothing', {}, 404],
    ];
    for (const [path, body, status] of cases) {
      const r = await inject(server, { path, body });
      assert.equal(r.status, status, `${path} ${JSON.stringify(body).slice(0, 60)} → ${r.text}`);
      const e = r.json().error;
      assert.equal(typeof e.message, 'string');
      assert.equal(typeof e.type, 'string');
      assert.equal(typeof e.code, 'string');
    }
    assert.equal((await inject(server, { method: 'DELETE', path: '/v1/models' })).status, 404);
  });

  it('requires a valid bearer key when keys are configured, but not for health', async () => {
    const { server } = api({ apiKeys: ['k1', 'k2'] });
    const body = { prompt: 'hi', max_tokens: 2 };
    assert.equal((await inject(server, { path: '/v1/completions', body })).status, 401);
    const wrong = await inject(server, { path: '/v1/completions', body, headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json().error.type, 'authentication_error');
    assert.equal((await inject(server, { path: '/v1/models', headers: { authorization: 'Basic k1' } })).status, 401);
    assert.equal((await inject(server, { path: '/v1/completions', body, headers: { authorization: 'Bearer k2' } })).status, 200);
    assert.equal((await inject(server, { path: '/healthz' })).status, 200);
  });

  it('answers 503 with Retry-After when an expert has no live replica', async () => {
    const { server } = api({}, [new FakeHost('a0', ['L0.0', 'L0.1'])]);
    const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', stream: true } });
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers['retry-after']) >= 1);
    assert.equal(r.json().error.code, 'NO_LIVE_REPLICA');
    const ready = await inject(server, { path: '/readyz' });
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.json().missing, ['L1.0', 'L1.1']);
  });

  it('GET /readyz counts only replicas that passed their probe (probed without any request)', { timeout: 5000 }, async () => {
    let openProbes!: () => void;
    const gate = new Promise<void>((r) => { openProbes = r; });
    const probed: string[] = [];
    let allProbed!: () => void;
    const done = new Promise<void>((r) => { allProbed = r; });
    const { server, hosts } = api({}, undefined, {
      verify: async (expertId) => { await gate; return expertId === 'L1.1' ? { type: 'mismatch', got: [1], want: [2] } : { type: 'ok' }; },
      onVerified: (expertId, peerId) => { probed.push(`${expertId} ${peerId}`); if (probed.length === 8) allProbed(); },
    });
    const before = await inject(server, { path: '/readyz' });
    assert.equal(before.status, 503, 'discovered, not yet verified');
    assert.deepEqual(before.json(), { ready: false, missing: ['L0.0', 'L0.1', 'L1.0', 'L1.1'] });
    assert.equal((await inject(server, { path: '/v1/swarm' })).json().experts['L0.0'].length, 2, '/v1/swarm lists discovered replicas');
    openProbes();
    await done;
    const after = await inject(server, { path: '/readyz' });
    assert.equal(after.status, 503, 'L1.1 fails its probe on every host');
    assert.deepEqual(after.json(), { ready: false, missing: ['L1.1'] });
    assert.equal(hosts.reduce((n, h) => n + h.opened, 0), 0, 'no request ran');
  });

  it('GET /readyz is 200 once every expert has a passed replica', { timeout: 5000 }, async () => {
    let allProbed!: () => void;
    const done = new Promise<void>((r) => { allProbed = r; });
    let n = 0;
    const { server } = api({}, undefined, {
      verify: async () => ({ type: 'ok' }),
      onVerified: () => { if (++n === 8) allProbed(); },
    });
    await inject(server, { path: '/readyz' });
    await done;
    const r = await inject(server, { path: '/readyz' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { ready: true, missing: [] });
  });

  it('answers 429 when the queue is full', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    const gated = [new FakeHost('a0', ['L0.0', 'L0.1'], { gate }), new FakeHost('b0', ['L1.0', 'L1.1'], { gate })];
    const { server } = api({ maxConcurrent: 1, maxQueue: 1 }, gated);
    const body = { prompt: 'hello', max_tokens: 5 };
    const done: number[] = [];
    const all = [0, 1, 2, 3].map(() => inject(server, { path: '/v1/completions', body }).then((r) => { done.push(r.status); return r; }));
    // While the hosts hold every step, one request runs, one waits, and the other two are refused.
    await waitFor(() => `two answers (got ${JSON.stringify(done)})`, () => done.length >= 2, { intervalMs: 5 });
    assert.deepEqual(done, [429, 429]);
    open();
    const results = await Promise.all(all);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 429, 429]);
    assert.equal(results.find((r) => r.status === 429)?.json().error.type, 'rate_limit_error');
  });

  it('cancels the generation when the client hangs up', async () => {
    // After their first 4 steps (a few tokens) the hosts hold every step until the client has hung
    // up: the generation is mid-step when the connection closes, and must end at the next step.
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const hosts = [new FakeHost('a0', ['L0.0', 'L0.1'], { gate, gateAfterSteps: 4 }), new FakeHost('b0', ['L1.0', 'L1.1'], { gate, gateAfterSteps: 4 })];
    const { server, api: a } = api({}, hosts);
    let n = 0;
    await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 100, stream: true }, onChunk: () => ++n >= 2 });
    release();
    await waitFor(() => `the generation to end after the hang-up (${a.inflight} in flight)`, () => a.inflight === 0, { timeoutMs: 1000, intervalMs: 10 });
    assert.equal(a.inflight, 0);
    const steps = hosts[0].steps;
    assert.ok(steps <= 5, `steps ${steps}: at most the one held step after the 4 before the hang-up`);
    // Every session is closed: no further step can run (a fake session refuses steps once closed).
    assert.equal(hosts[0].activeSessions + hosts[1].activeSessions, 0);
  });

  it('serves /v1/models, /v1/route, /v1/swarm, /healthz, /readyz and /metrics', async () => {
    const { server } = api();
    const models = (await inject(server, { path: '/v1/models' })).json();
    assert.equal(models.object, 'list');
    assert.equal(models.data[0].id, 'toy');
    const route = await inject(server, { path: '/v1/route', body: { prompt: 'hello' } });
    assert.deepEqual(route.json(), { path: ['L0.0', 'L1.0'], cluster: 0, distances: [0, 1] });
    const swarm = (await inject(server, { path: '/v1/swarm' })).json();
    assert.equal(swarm.model, 'toy');
    assert.deepEqual(Object.keys(swarm.experts), ['L0.0', 'L0.1', 'L1.0', 'L1.1']);
    const rep = swarm.experts['L1.1'];
    assert.deepEqual(rep.map((x: { peerId: string }) => x.peerId).sort(), ['b0', 'b1']);
    assert.deepEqual(Object.keys(rep[0]).sort(), ['grpc', 'load', 'peerId', 'throughput']);
    assert.equal((await inject(server, { path: '/healthz' })).status, 200);
    assert.equal((await inject(server, { path: '/readyz' })).status, 200);
    await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 3 } });
    const m = await inject(server, { path: '/metrics' });
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain/);
    assert.match(m.text, /swarmpath_requests_total\{[^}]*endpoint="\/v1\/completions"[^}]*\} 1/);
    assert.match(m.text, /swarmpath_tokens_generated_total\{[^}]*\} 3/);
    assert.match(m.text, /swarmpath_time_to_first_token_seconds_count\{[^}]*endpoint="\/v1\/completions"[^}]*\} 1/);
  });

  it('close() drains an in-flight request before closing', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const hosts = [new FakeHost('a0', ['L0.0', 'L0.1'], { gate }), new FakeHost('b0', ['L1.0', 'L1.1'], { gate })];
    const { server, api: a } = api({}, hosts);
    const pending = inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 20 } });
    await waitFor('the request to start', () => a.inflight > 0, { intervalMs: 1 });
    // The request's steps are held at the gate: close() starts while it is in flight, then it goes on.
    const closing = a.close(5000);
    release();
    await closing;
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.json().usage.completion_tokens, 20);
  });
});
