import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { ThroughputEma } from '../../../router/throughput-ema.ts';
import { MinHeap } from '../../../router/min-heap.ts';
import { mulberry32 } from '../../../shared/model/rng.ts';

/** mulberry32, for reproducible random cases. */
const rng = mulberry32;

function pickOk(b: ReplicaBalancer, stage: string, now: number, opts = {}): string {
  const r = b.pick(stage, now, opts);
  assert.equal(r.type, 'ok', `expected ok, got ${JSON.stringify(r)}`);
  return (r as { replica: string }).replica;
}

describe('MinHeap', () => {
  it('pops in order and filters', () => {
    const h = new MinHeap<number>((a, b) => a < b);
    const r = rng(1);
    const xs = Array.from({ length: 200 }, () => Math.floor(r() * 1000));
    for (const x of xs) h.push(x);
    h.filter((x) => x % 2 === 0);
    const out: number[] = [];
    while (h.size) out.push(h.pop() as number);
    assert.deepEqual(out, xs.filter((x) => x % 2 === 0).sort((a, b) => a - b));
    assert.equal(h.pop(), undefined);
  });
});

describe('ThroughputEma', () => {
  it('is bias-corrected: the first sample is taken as is', () => {
    const e = new ThroughputEma(0.1);
    assert.equal(e.throughput(), undefined);
    e.update(10, 2); // 0.2 s per unit
    assert.ok(Math.abs((e.secondsPerUnit() as number) - 0.2) < 1e-12);
    e.update(10, 2);
    assert.ok(Math.abs((e.throughput() as number) - 5) < 1e-9);
  });
  it('moves towards new measurements by alpha', () => {
    const e = new ThroughputEma(0.5);
    e.update(1, 1);
    e.update(1, 3);
    // ema = 0.5*3 + 0.5*(0.5*1) = 1.75, corrected by 1 - 0.25 = 0.75 -> 2.333…
    assert.ok(Math.abs((e.secondsPerUnit() as number) - 1.75 / 0.75) < 1e-12);
  });
  it('ignores nonsense', () => {
    const e = new ThroughputEma();
    e.update(0, 1); e.update(1, NaN); e.update(1, -1);
    assert.equal(e.samples, 0);
  });
});

describe('ReplicaBalancer', () => {
  it('answers none for an unknown or empty stage', () => {
    const b = new ReplicaBalancer();
    assert.deepEqual(b.pick('L0.0', 0), { type: 'none' });
    b.setReplicas('L0.0', [], 0);
    assert.deepEqual(b.pick('L0.0', 0), { type: 'none' });
  });

  it('alternates between equal unmeasured replicas', () => {
    const b = new ReplicaBalancer();
    b.setReplicas('s', ['a', 'b'], 0);
    const seen = [pickOk(b, 's', 0), pickOk(b, 's', 0), pickOk(b, 's', 0), pickOk(b, 's', 0)];
    assert.deepEqual(seen, ['a', 'b', 'a', 'b']);
  });

  it('tries a new replica at once', () => {
    const b = new ReplicaBalancer();
    b.setReplicas('s', ['a', 'b'], 0);
    for (let i = 0; i < 10; i++) {
      const r = pickOk(b, 's', 0);
      b.recordSuccess('s', r, 1, r === 'a' ? 0.1 : 0.2);
    }
    b.add('s', 'c', 0);
    assert.equal(pickOk(b, 's', 0), 'c');
  });

  it('skips excluded replicas and says none when all are excluded', () => {
    const b = new ReplicaBalancer();
    b.setReplicas('s', ['a', 'b'], 0);
    assert.equal(pickOk(b, 's', 0, { exclude: new Set(['a']) }), 'b');
    assert.equal(pickOk(b, 's', 0, { exclude: new Set(['a']) }), 'b');
    assert.deepEqual(b.pick('s', 0, { exclude: new Set(['a', 'b']) }), { type: 'none' });
    // the excluded replica kept its place
    assert.equal(pickOk(b, 's', 0), 'a');
  });

  it('removes replicas that discovery no longer lists', () => {
    const b = new ReplicaBalancer();
    b.setReplicas('s', ['a', 'b'], 0);
    b.setReplicas('s', ['b'], 0);
    for (let i = 0; i < 5; i++) assert.equal(pickOk(b, 's', 0), 'b');
    assert.deepEqual(b.stats('s').map((x) => x.replica), ['b']);
  });

  it('bans after N strikes, with doubling backoff, and waits for the first ban to end', () => {
    const b = new ReplicaBalancer({ strikesToBan: 3, banBaseMs: 2000, banMaxMs: 5000 });
    b.setReplicas('s', ['a'], 0);
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 0), { type: 'strike', strikes: 1 });
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 0), { type: 'strike', strikes: 2 });
    assert.equal(pickOk(b, 's', 0), 'a');
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 10), { type: 'banned', untilMs: 2010 });
    assert.deepEqual(b.pick('s', 100), { type: 'wait', untilMs: 2010 });
    assert.equal(b.isBanned('s', 'a', 100), true);
    assert.equal(pickOk(b, 's', 2010), 'a');
    // one more failure after a ban bans again, twice as long
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 3000), { type: 'banned', untilMs: 7000 });
    // capped
    assert.equal(pickOk(b, 's', 7000), 'a');
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 8000), { type: 'banned', untilMs: 13000 });
  });

  it('does not strike on deadline exceeded', () => {
    const b = new ReplicaBalancer({ strikesToBan: 1 });
    b.setReplicas('s', ['a'], 0);
    assert.deepEqual(b.recordFailure('s', 'a', 'deadline', 0), { type: 'ignored' });
    assert.equal(pickOk(b, 's', 0), 'a');
  });

  it('counts a timeout as a slow measurement, so the slow replica gets less traffic', () => {
    const b = new ReplicaBalancer({ strikesToBan: 1 });
    b.setReplicas('s', ['a', 'b'], 0);
    b.recordSuccess('s', 'b', 1, 0.01);
    b.recordTimeout('s', 'a', 1, 10);
    assert.equal(b.stats('s').find((x) => x.replica === 'a')?.strikes, 0);
    assert.ok((b.throughput('s', 'a') as number) < 0.2);
    const counts: Record<string, number> = { a: 0, b: 0 };
    for (let i = 0; i < 200; i++) counts[pickOk(b, 's', 0)]++;
    assert.ok(counts.a <= 2, JSON.stringify(counts));
  });

  it('a success clears strikes and the ban level', () => {
    const b = new ReplicaBalancer({ strikesToBan: 2, banBaseMs: 1000 });
    b.setReplicas('s', ['a'], 0);
    b.recordFailure('s', 'a', 'error', 0);
    b.recordSuccess('s', 'a', 1, 0.01);
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 0), { type: 'strike', strikes: 1 });
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 0), { type: 'banned', untilMs: 1000 });
    b.reinstate('s', 'a', 500);
    b.recordSuccess('s', 'a', 1, 0.01);
    b.recordFailure('s', 'a', 'error', 600);
    assert.deepEqual(b.recordFailure('s', 'a', 'error', 600), { type: 'banned', untilMs: 1600 });
  });

  it('uses a banned replica again as soon as it re-announces', () => {
    const b = new ReplicaBalancer({ strikesToBan: 1, banBaseMs: 60_000 });
    b.setReplicas('s', ['a', 'b'], 0);
    b.recordFailure('s', 'a', 'error', 0);
    for (let i = 0; i < 3; i++) assert.equal(pickOk(b, 's', 1), 'b');
    b.reinstate('s', 'a', 2);
    assert.equal(pickOk(b, 's', 2), 'a');
  });

  it('sends more work to faster replicas, in proportion to throughput', () => {
    const b = new ReplicaBalancer();
    b.setReplicas('s', ['fast', 'slow'], 0);
    const speed: Record<string, number> = { fast: 300, slow: 100 };
    const count: Record<string, number> = { fast: 0, slow: 0 };
    for (let i = 0; i < 4000; i++) {
      const r = pickOk(b, 's', 0);
      count[r]++;
      b.recordSuccess('s', r, 1, 1 / speed[r]);
    }
    assert.ok(Math.abs(count.fast / 4000 - 0.75) < 0.01, JSON.stringify(count));
  });

  it('property: traffic share converges to t_i / sum(t)', () => {
    const r = rng(42);
    for (let trial = 0; trial < 40; trial++) {
      const n = 2 + Math.floor(r() * 5);
      const speeds = Array.from({ length: n }, () => 1 + r() * 99);
      const names = speeds.map((_, i) => `r${i}`);
      const b = new ReplicaBalancer();
      b.setReplicas('s', names, 0);
      const counts = new Array<number>(n).fill(0);
      const picks = 3000;
      for (let i = 0; i < picks; i++) {
        const cost = 1 + Math.floor(r() * 4);
        const name = pickOk(b, 's', 0, { cost });
        const k = Number(name.slice(1));
        counts[k] += cost;
        // measured time jitters ±10% around cost / speed
        b.recordSuccess('s', name, cost, (cost / speeds[k]) * (0.9 + 0.2 * r()));
      }
      const totalWork = counts.reduce((a, x) => a + x, 0);
      const totalSpeed = speeds.reduce((a, x) => a + x, 0);
      for (let k = 0; k < n; k++) {
        const share = counts[k] / totalWork;
        const want = speeds[k] / totalSpeed;
        assert.ok(Math.abs(share - want) < 0.03, `trial ${trial}: replica ${k} share ${share.toFixed(3)} want ${want.toFixed(3)}`);
      }
    }
  });

  it('an unmeasured replica counts at the mean of its measured peers', () => {
    const b = new ReplicaBalancer();
    b.setReplicas('s', ['a', 'b'], 0);
    b.recordSuccess('s', 'a', 10, 1);
    assert.ok(Math.abs((b.throughput('s', 'b') as number) - 10) < 1e-9);
    const st = b.stats('s').find((x) => x.replica === 'b');
    assert.equal(st?.measured, false);
  });
});
