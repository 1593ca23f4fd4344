/**
 * The dashboard's pure parts: the latency histogram's percentiles, the stats collector's one-second
 * buckets (expiry, last minute, chart series, errors by code, path counts, events), moves derived
 * from successive host records, and the expert rows (NO REPLICA, trust). Clocks are injected.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LatencyHistogram } from '../../../router/dashboard/latency-histogram.ts';
import { hostDirectory, type HostSighting } from '../../../router/dashboard/host-directory.ts';
import { createStatsCollector } from '../../../router/dashboard/stats-collector.ts';
import { swarmRows } from '../../../router/dashboard/swarm-rows.ts';
import { toyManifest } from './fakes.ts';

/** The exact nearest-rank quantile. */
function exact(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1];
}

function collector(startMs = 1_000_000) {
  let now = startMs;
  const stats = createStatsCollector({ windowS: 600, pointS: 10, maxEvents: 3 }, { clock: () => now });
  return { stats, advance(ms: number) { now += ms; }, get now() { return now; } };
}

const host = (peerId: string, experts: string[], seq: number, extra: Partial<HostSighting> = {}): HostSighting =>
  ({ peerId, experts, seq, grpc: `127.0.0.1:${seq}`, device: 'cpu', state: 'ONLINE', ...extra });

describe('LatencyHistogram', () => {
  it('is empty before any value, and exact for a single value', () => {
    const h = new LatencyHistogram();
    assert.equal(h.quantile(0.5), null);
    h.add(123.4);
    assert.equal(h.quantile(0.5), 123.4);
    assert.equal(h.quantile(0.95), 123.4);
  });

  it('p50 and p95 of 1..100 ms lie within 5 % above the exact values', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 100; v++) h.add(v);
    const p50 = h.quantile(0.5) as number;
    const p95 = h.quantile(0.95) as number;
    assert.ok(p50 >= 50 && p50 <= 52.5, `p50 ${p50}`);
    assert.ok(p95 >= 95 && p95 <= 99.75, `p95 ${p95}`);
    assert.equal(h.quantile(1), 100);
  });

  it('any quantile lies between the exact nearest-rank value and 5 % above it (1 ms below 1 ms)', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0, max: 600_000, noNaN: true }), { minLength: 1, maxLength: 200 }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      (values, q) => {
        const h = new LatencyHistogram();
        for (const v of values) h.add(v);
        const want = exact(values, q);
        const got = h.quantile(q) as number;
        return got >= want - 1e-9 && got <= Math.max(want * 1.05, 1) + 1e-9;
      }));
  });

  it('merging equals adding every value to one histogram', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let v = 1; v <= 50; v++) { a.add(v * 3); all.add(v * 3); }
    for (let v = 1; v <= 30; v++) { b.add(v * 17); all.add(v * 17); }
    a.merge(b);
    assert.equal(a.count, 80);
    for (const q of [0.1, 0.5, 0.9, 0.95, 1]) assert.equal(a.quantile(q), all.quantile(q));
  });
});

describe('stats collector', () => {
  it('counts requests, tokens and errors by code; latency percentiles count successes only', () => {
    const c = collector();
    for (const ms of [100, 200, 300, 400]) c.stats.requestEnded({ status: 200, durationMs: ms });
    c.stats.requestEnded({ status: 503, durationMs: 10_000, errorCode: 'NO_LIVE_REPLICA' });
    c.stats.requestEnded({ status: 400, durationMs: 1, errorCode: 'INVALID_ARGUMENT' });
    c.stats.requestEnded({ status: 429, durationMs: 1 });
    c.stats.tokens(5, 16);
    c.stats.tokens(7, 4);
    const s = c.stats.snapshot();
    assert.equal(s.window.requests, 7);
    assert.equal(s.window.promptTokens, 12);
    assert.equal(s.window.completionTokens, 20);
    assert.deepEqual(s.window.errors, { NO_LIVE_REPLICA: 1, INVALID_ARGUMENT: 1, HTTP_429: 1 });
    assert.ok((s.window.p50Ms as number) >= 200 && (s.window.p50Ms as number) <= 210, `p50 ${s.window.p50Ms}`);
    assert.equal(s.window.p95Ms, 400);
    assert.deepEqual(s.lastMinute.errors, s.window.errors);
  });

  it('rates divide by the part of the last minute the router has been up', () => {
    const c = collector();
    c.advance(10_000);
    c.stats.requestEnded({ status: 200, durationMs: 5 });
    c.stats.tokens(1, 40);
    assert.equal(c.stats.snapshot().lastMinute.tokensPerS, 4);
    assert.equal(c.stats.snapshot().lastMinute.requestsPerS, 0.1);
    c.advance(50_000);
    assert.equal(c.stats.snapshot().lastMinute.tokensPerS, 40 / 60);
  });

  it('a second leaves the last minute after 60 s and the window after 600 s', () => {
    const c = collector(5_000_500);
    c.stats.requestEnded({ status: 200, durationMs: 50 });
    c.stats.pathChosen(['L0.0', 'L1.1']);
    c.advance(59_000);
    assert.equal(c.stats.snapshot().lastMinute.requests, 1);
    c.advance(1000);
    assert.equal(c.stats.snapshot().lastMinute.requests, 0);
    assert.equal(c.stats.snapshot().lastMinute.p50Ms, null);
    assert.equal(c.stats.snapshot().window.requests, 1);
    c.advance(539_000);
    assert.equal(c.stats.snapshot().window.requests, 1, 'still inside 600 s');
    c.advance(1000);
    const s = c.stats.snapshot();
    assert.equal(s.window.requests, 0);
    assert.equal(s.window.p50Ms, null);
    assert.deepEqual(s.paths, []);
  });

  it('a ring slot reused by a later second starts empty', () => {
    const c = collector(0);
    c.stats.requestEnded({ status: 200, durationMs: 50 });
    c.advance(600_000);
    c.stats.requestEnded({ status: 200, durationMs: 70 });
    const s = c.stats.snapshot();
    assert.equal(s.window.requests, 1);
    assert.equal(s.window.p50Ms, 70);
  });

  it('cuts the window into chart points of 10 s, the last ending now', () => {
    const c = collector(1_000_000);
    c.stats.requestEnded({ status: 200, durationMs: 20 });
    c.stats.tokens(1, 8);
    c.advance(25_000);
    c.stats.requestEnded({ status: 200, durationMs: 40 });
    c.stats.requestEnded({ status: 500, durationMs: 1, errorCode: 'INTERNAL' });
    const s = c.stats.snapshot().series;
    assert.equal(s.requests.length, 60);
    assert.equal(s.start, (1_025 - 599) * 1000);
    assert.equal(s.requests[59], 2);
    assert.equal(s.errors[59], 1);
    assert.equal(s.p50Ms[59], 40);
    // 1_000 s lies in the point starting at 426 + 57·10 = 996 s.
    assert.equal(s.requests[57], 1);
    assert.equal(s.completionTokens[57], 8);
    assert.equal(s.p95Ms[57], 20);
    assert.equal(s.requests.reduce((a, n) => a + n, 0), 3);
    assert.equal(s.p50Ms[0], null);
  });

  it('counts paths over the window, most used first', () => {
    const c = collector();
    for (let i = 0; i < 3; i++) c.stats.pathChosen(['L0.1', 'L1.0']);
    c.stats.pathChosen(['L0.0', 'L1.0']);
    c.advance(300_000);
    c.stats.pathChosen(['L0.0', 'L1.0']);
    c.stats.pathChosen(['L0.0', 'L1.1']);
    assert.deepEqual(c.stats.snapshot().paths, [
      { path: ['L0.1', 'L1.0'], count: 3 }, { path: ['L0.0', 'L1.0'], count: 2 }, { path: ['L0.0', 'L1.1'], count: 1 },
    ]);
    c.advance(300_000);
    assert.deepEqual(c.stats.snapshot().paths, [{ path: ['L0.0', 'L1.0'], count: 1 }, { path: ['L0.0', 'L1.1'], count: 1 }]);
  });

  it('lists failovers newest first, at most maxEvents, and drops them after the window', () => {
    const c = collector(0);
    c.stats.failover('L0.0', 'UNAVAILABLE');
    c.advance(1000);
    c.stats.failover('L1.0', 'DEADLINE_EXCEEDED');
    assert.deepEqual(c.stats.snapshot().failovers, [
      { at: 1000, expert: 'L1.0', reason: 'DEADLINE_EXCEEDED' }, { at: 0, expert: 'L0.0', reason: 'UNAVAILABLE' },
    ]);
    c.advance(1000);
    c.stats.failover('L0.1', 'UNAVAILABLE');
    c.stats.failover('L1.1', 'UNAVAILABLE');
    assert.deepEqual(c.stats.snapshot().failovers.map((f) => f.expert), ['L1.1', 'L0.1', 'L1.0'], 'the oldest is dropped past maxEvents');
    c.advance(599_500);
    assert.deepEqual(c.stats.snapshot().failovers.map((f) => f.expert), ['L1.1', 'L0.1'], 'the one of 1000 ms is out of the window at 601500 ms');
  });

  it('keeps the outcome of each replica\'s latest calls', () => {
    const c = collector(0);
    c.stats.called('L0.0', 'p1');
    c.advance(5);
    c.stats.called('L0.0', 'p1', 'DEADLINE_EXCEEDED');
    assert.deepEqual(c.stats.health('L0.0', 'p1'), { lastOkAt: 0, lastFailAt: 5, lastError: 'DEADLINE_EXCEEDED' });
    c.advance(5);
    c.stats.called('L0.0', 'p1');
    assert.deepEqual(c.stats.health('L0.0', 'p1'), { lastOkAt: 10, lastFailAt: 5, lastError: 'DEADLINE_EXCEEDED' });
    assert.equal(c.stats.health('L0.1', 'p1'), undefined);
  });

  it('keeps each replica\'s probe results: the latest and counts', () => {
    const c = collector(0);
    assert.equal(c.stats.trust('L0.0', 'p1'), undefined);
    c.stats.probed('L0.0', 'p1', 'ok');
    c.advance(5);
    c.stats.probed('L0.0', 'p1', 'ok');
    c.stats.probed('L0.0', 'p1', 'mismatch');
    assert.deepEqual(c.stats.trust('L0.0', 'p1'), { last: 'mismatch', at: 5, ok: 2, mismatch: 1, error: 0 });
    assert.equal(c.stats.trust('L0.1', 'p1'), undefined);
  });
});

describe('moves from successive host records', () => {
  it('a first sighting is no move; a changed expert set is one, with what left and what came', () => {
    const d = hostDirectory();
    assert.deepEqual(d.note([host('a', ['L0.0', 'L0.1'], 1), host('b', ['L1.0'], 1)], 10), []);
    assert.deepEqual(d.note([host('a', ['L0.1', 'L0.0'], 2, { device: 'cuda:0' })], 20), [], 'same set, other order: no move');
    assert.equal(d.get('a')?.device, 'cuda:0');
    assert.deepEqual(d.note([host('b', ['L1.1'], 2), host('a', ['L0.0', 'L1.1'], 3)], 30), [
      { at: 30, peerId: 'b', from: ['L1.0'], to: ['L1.1'] },
      { at: 30, peerId: 'a', from: ['L0.1'], to: ['L1.1'] },
    ]);
  });

  it('ignores a stale record (lower seq), so a host never seems to move back', () => {
    const d = hostDirectory();
    d.note([host('a', ['L0.0'], 5)], 0);
    assert.deepEqual(d.note([host('a', ['L0.1'], 6)], 1).length, 1);
    assert.deepEqual(d.note([host('a', ['L0.0'], 5)], 2), []);
    assert.deepEqual(d.get('a')?.experts, ['L0.1']);
  });

  it('the collector lists moves newest first', () => {
    const c = collector(0);
    c.stats.hostsSeen([host('a', ['L0.0'], 1)]);
    c.advance(1000);
    c.stats.hostsSeen([host('a', ['L1.0'], 2)]);
    c.advance(1000);
    c.stats.hostsSeen([host('a', ['L1.0', 'L1.1'], 3)]);
    assert.deepEqual(c.stats.snapshot().moves, [
      { at: 2000, peerId: 'a', from: [], to: ['L1.1'] }, { at: 1000, peerId: 'a', from: ['L0.0'], to: ['L1.0'] },
    ]);
  });
});

describe('expert rows', () => {
  const manifest = toyManifest([2, 2]);
  const view = {
    'L0.0': [{ peerId: 'a', grpc: '127.0.0.1:1', load: 2, throughput: 123.5 }],
    'L0.1': [{ peerId: 'a', grpc: '127.0.0.1:1', load: 2, throughput: 99 }, { peerId: 'b', grpc: '127.0.0.1:2', load: 0, throughput: 80 }],
    'L1.0': [],
  };
  const hosts = new Map([['a', host('a', ['L0.0', 'L0.1'], 1, { device: 'cuda:0' })]]);
  const trust = new Map([['L0.0 a', { last: 'ok' as const, at: 1, ok: 3, mismatch: 0, error: 0 }], ['L0.1 a', { last: 'error' as const, at: 1, ok: 1, mismatch: 0, error: 1 }]]);
  const health = new Map([['L0.1 a', { lastOkAt: 5, lastFailAt: 9, lastError: 'UNAVAILABLE' }], ['L0.1 b', { lastOkAt: 9, lastFailAt: 5, lastError: 'UNAVAILABLE' }]]);
  const rows = (verifying: boolean) => swarmRows({
    manifest, view, verifying, host: (p) => hosts.get(p), trust: (e, p) => trust.get(`${e} ${p}`), health: (e, p) => health.get(`${e} ${p}`),
  });

  it('lists every level and expert, with no replica where the view has none', () => {
    const r = rows(true);
    assert.deepEqual(r.map((l) => l.name), ['L0', 'L1']);
    assert.deepEqual(r.flatMap((l) => l.experts.map((e) => [e.id, e.replicas.length])), [['L0.0', 1], ['L0.1', 2], ['L1.0', 0], ['L1.1', 0]]);
  });

  it('joins each replica with its host record and probe results', () => {
    const [l0] = rows(true);
    assert.deepEqual(l0.experts[0].replicas[0], {
      peerId: 'a', grpc: '127.0.0.1:1', device: 'cuda:0', state: 'ONLINE', queue: 2, throughput: 123.5,
      trust: 'verified', probes: { ok: 3, mismatch: 0, error: 0 },
    });
    assert.equal(l0.experts[1].replicas[0].trust, 'probe-error');
    assert.equal(l0.experts[1].replicas[1].trust, 'probing', 'never probed yet');
    assert.equal(l0.experts[1].replicas[1].device, '?', 'no record seen');
    assert.equal(l0.experts[1].replicas[0].state, 'FAILING', 'its latest call failed');
    assert.equal(l0.experts[1].replicas[0].error, 'UNAVAILABLE');
    assert.equal(l0.experts[1].replicas[1].state, '?', 'a success after the failure clears it');
    assert.equal(l0.experts[1].replicas[1].error, undefined);
    assert.deepEqual(rows(false)[0].experts.flatMap((e) => e.replicas.map((x) => x.trust)), ['off', 'off', 'off']);
  });
});
