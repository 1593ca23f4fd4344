/**
 * The dashboard's HTTP side without a port (in-memory sockets, fake hosts): the page and its assets
 * with their content types and CSP, open even with keys; GET /dashboard/stats (keys guard it), fed
 * by generation requests (count, tokens, path, errors) and by the host records discovery returns.
 * The real page in a real browser on a real swarm: test/integration/dashboard/.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { createMetricsRegistry, routerMetrics } from '../../../shared/telemetry/metrics.ts';
import { createGenerator } from '../../../router/generation.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createRouterApi } from '../../../router/http/server.ts';
import { DASHBOARD_CSP } from '../../../router/dashboard/dashboard-routes.ts';
import { observedPool } from '../../../router/dashboard/observed-pool.ts';
import { recordingDiscovery } from '../../../router/dashboard/recording-discovery.ts';
import { createStatsCollector } from '../../../router/dashboard/stats-collector.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { SwarmpathError } from '../../../shared/errors.ts';
import { FakeDiscovery, FakeHost, toyRuntime } from './fakes.ts';
import { createFakeDiscovery } from '../../fakes/discovery.ts';
import { inject } from './inject.ts';

function api(apiKeys: string[] = []) {
  const runtime = toyRuntime();
  // L1.1 has no host: the page must show it as missing.
  const fleet = [new FakeHost('a0', ['L0.0', 'L0.1']), new FakeHost('a1', ['L0.0', 'L0.1']), new FakeHost('b0', ['L1.0'])];
  const fake = new FakeDiscovery(fleet);
  const stats = createStatsCollector({}, { clock: Date.now });
  const discovery = recordingDiscovery(fake, (recs) => stats.hostsSeen(recs));
  const pool = observedPool(createReplicaPool({ model: 'toy', noReplicaWaitMs: 50, pollMs: 10, cacheTtlMs: 50 },
    { discovery, balancer: new ReplicaBalancer(), connect: fake.connect, log: silentLogger }), (e, p, code) => stats.called(e, p, code));
  const reg = createMetricsRegistry();
  const a = createRouterApi({ apiKeys }, {
    runtime, generator: createGenerator({}, { runtime, pool, log: silentLogger }), pool,
    metrics: routerMetrics(reg), metricsText: () => reg.text(), log: silentLogger, stats,
  });
  return { server: a.server, fleet };
}

describe('dashboard routes', () => {
  it('serves the page and its assets with their content types and a strict CSP', async () => {
    const { server } = api();
    const want: [string, RegExp][] = [
      ['/', /^text\/html; charset=utf-8$/], ['/dashboard/dashboard.js', /^text\/javascript/],
      ['/dashboard/dashboard.css', /^text\/css/], ['/dashboard/favicon.svg', /^image\/svg\+xml$/],
    ];
    for (const [path, type] of want) {
      const r = await inject(server, { path });
      assert.equal(r.status, 200, path);
      assert.match(String(r.headers['content-type']), type, path);
      assert.equal(r.headers['content-security-policy'], DASHBOARD_CSP, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
    }
    assert.match(DASHBOARD_CSP, /default-src 'none'/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|https?:/);
    const page = await inject(server, { path: '/' });
    assert.match(page.text, /<body data-auth="none">/);
    assert.doesNotMatch(page.text, /<script>|<style>|\sstyle=|https?:\/\/(?!www\.w3\.org)/, 'nothing inline, nothing external');
  });

  it('reports the model, every expert with its live replicas, and each generation request', async () => {
    const { server } = api();
    const before = (await inject(server, { path: '/dashboard/stats' })).json();
    assert.equal(before.model.name, 'toy');
    assert.deepEqual(before.model.levels, [{ name: 'L0', experts: ['L0.0', 'L0.1'] }, { name: 'L1', experts: ['L1.0', 'L1.1'] }]);
    assert.equal(before.stats.window.requests, 0);
    const experts = before.swarm.flatMap((l: any) => l.experts);
    assert.deepEqual(experts.map((e: any) => [e.id, e.replicas.map((r: any) => r.peerId).sort()]),
      [['L0.0', ['a0', 'a1']], ['L0.1', ['a0', 'a1']], ['L1.0', ['b0']], ['L1.1', []]]);
    assert.equal(experts[0].replicas[0].device, 'cpu', 'from the host record discovery returned');
    assert.equal(experts[0].replicas[0].trust, 'off');

    const ok = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 5, seed: 1 } });
    assert.equal(ok.status, 200, ok.text);
    const bad = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 0 } });
    assert.equal(bad.status, 400);
    const r = await inject(server, { path: '/dashboard/stats' });
    assert.equal(r.headers['cache-control'], 'no-store');
    const s = r.json().stats;
    assert.equal(s.window.requests, 2);
    assert.equal(s.window.completionTokens, 5);
    assert.equal(s.window.promptTokens, 5);
    assert.deepEqual(s.window.errors, { INVALID_ARGUMENT: 1 });
    assert.deepEqual(s.paths, [{ path: ok.json().swarmpath.path, count: 1 }]);
    assert.equal(typeof s.window.p50Ms, 'number');
  });

  it('with keys: the page and assets stay open, the stats need a key, and the page is told to ask for one', async () => {
    const { server } = api(['k1']);
    const page = await inject(server, { path: '/' });
    assert.equal(page.status, 200);
    assert.match(page.text, /<body data-auth="bearer">/);
    assert.equal((await inject(server, { path: '/dashboard/dashboard.js' })).status, 200);
    const none = await inject(server, { path: '/dashboard/stats' });
    assert.equal(none.status, 401);
    assert.equal(none.json().error.code, 'UNAUTHORIZED');
    assert.equal((await inject(server, { path: '/dashboard/stats', headers: { authorization: 'Bearer nope' } })).status, 401);
    const ok = await inject(server, { path: '/dashboard/stats', headers: { authorization: 'Bearer k1' } });
    assert.equal(ok.status, 200);
    assert.doesNotMatch(ok.text, /k1/, 'the JSON never carries a key');
  });

  it('shows a replica whose latest call failed as FAILING, until a call to it succeeds', async () => {
    const { server, fleet } = api();
    const peersOf = async (expert: string) => {
      const sw = (await inject(server, { path: '/dashboard/stats' })).json().swarm.flatMap((l: any) => l.experts);
      return Object.fromEntries(sw.find((e: any) => e.id === expert).replicas.map((r: any) => [r.peerId, r.state]));
    };
    // b0 alone serves L1.0: a completion on a path through it, with b0 down, fails there.
    fleet[2].kill();
    const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 2, seed: 1 } });
    assert.equal(r.status, 503, r.text);
    assert.deepEqual(await peersOf('L1.0'), { b0: 'FAILING' });
    fleet[2].dead = false;
    const ok = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 2, seed: 1 } });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(await peersOf('L1.0'), { b0: 'ONLINE' });
  });

  it('observedPool forwards every call and reports each stage call\'s outcome', () => {
    const calls: string[] = [];
    const inner = {
      acquire: async () => { throw new Error('unused'); },
      succeeded: (e: string, p: string, w: number, s: number) => { calls.push(`succeeded ${e} ${p} ${w} ${s}`); },
      failed: (e: string, p: string, err: SwarmpathError) => { calls.push(`failed ${e} ${p} ${err.code}`); return { type: 'banned' as const, untilMs: 9 }; },
      trusted: () => false,
    } as unknown as Parameters<typeof observedPool>[0];
    const seen: string[] = [];
    const pool = observedPool(inner, (e, p, code) => { seen.push(`${e} ${p} ${code ?? 'ok'}`); });
    pool.succeeded('L0.0', 'a', 3, 0.5);
    assert.deepEqual(pool.failed('L0.0', 'a', new SwarmpathError('UNAVAILABLE', 'gone')), { type: 'banned', untilMs: 9 });
    assert.equal(pool.trusted('L0.0', 'a'), false);
    assert.deepEqual(calls, ['succeeded L0.0 a 3 0.5', 'failed L0.0 a UNAVAILABLE']);
    assert.deepEqual(seen, ['L0.0 a ok', 'L0.0 a UNAVAILABLE']);
    const throwing = observedPool(inner, () => { throw new Error('boom'); });
    throwing.succeeded('L0.0', 'a', 1, 1);
    assert.equal(calls.length, 3, 'a failing listener does not stop the call');
  });

  it('recordingDiscovery passes results through and survives a failing listener', async () => {
    const fake = new FakeDiscovery([new FakeHost('a0', ['L0.0'])]);
    const seen: HostRecord[][] = [];
    const d = recordingDiscovery(fake, (recs) => { seen.push([...recs]); });
    const recs = await d.replicas('toy', 'L0.0');
    assert.deepEqual(recs.map((r) => r.peerId), ['a0']);
    assert.deepEqual(seen.map((s) => s.map((r) => r.peerId)), [['a0']]);
    const throwing = recordingDiscovery(fake, () => { throw new Error('boom'); });
    assert.deepEqual((await throwing.replicas('toy', 'L0.0')).map((r) => r.peerId), ['a0']);
  });

  it('recordingDiscovery passes learn through (records learnt are seen too), and offers none when the inner discovery has none', async () => {
    const inner = createFakeDiscovery();
    inner.publish(inner.host({ peerId: 'h0', experts: ['L0.0'], expiresAt: Date.now() + 60_000, seq: 1 }));
    const seen: string[] = [];
    const d = recordingDiscovery({ ...inner, replicas: inner.replicas, allHosts: inner.allHosts, learn: inner.learn!.bind(inner) }, (recs) => { seen.push(...recs.map((r) => r.peerId)); });
    assert.deepEqual((await d.learn!(['h0'])).map((r) => r.peerId), ['h0']);
    assert.deepEqual(seen, ['h0']);
    assert.equal(recordingDiscovery(new FakeDiscovery([]), () => {}).learn, undefined);
  });
});
