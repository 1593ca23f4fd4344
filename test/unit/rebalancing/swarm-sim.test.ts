/**
 * Many hosts deciding independently at randomized times on stale views (swarm-sim.ts): the swarm
 * converges, never empties an expert by moving, re-hosts an expert that lost every replica, and
 * does not flap under steady (noisy) demand. Each property over many seeds.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { decideRebalance } from '../../../expert-host/rebalancing/decide.ts';
import { replicaCounts, simulate } from './swarm-sim.ts';
import type { SimResult } from './swarm-sim.ts';
import { EXPERTS4 } from './fixtures.ts';

const SEEDS = Array.from({ length: 40 }, (_, i) => 1000 + i);

/** No host ever settles on an expert it left before (A → B → A). */
function assertNoFlapping(r: SimResult, label: string): void {
  for (const [peerId, seq] of r.homes) {
    assert.equal(new Set(seq).size, seq.length, `${label}: ${peerId} flapped: ${seq.join(' → ')}`);
  }
}

/** Every live auto host, on an exact view of the final state, decides to stay. */
function assertFixedPoint(r: SimResult, experts: string[], target: number, demand: Map<string, number>, label: string): void {
  const records = r.records();
  for (const [peerId, served] of r.final) {
    if (!peerId.startsWith('auto')) continue;
    assert.equal(served.length, 1, `${label}: ${peerId} still serves ${served.join(',')}`);
    const d = decideRebalance({ experts, hosts: records, self: { peerId, experts: served }, targetReplicas: target, demand });
    assert.deepEqual(d, { type: 'stay' }, `${label}: ${peerId} would still move`);
  }
}

/** Join/move activity after `t`. */
function changesAfter(r: SimResult, t: number): number {
  return r.events.filter((e) => e.t > t && (e.kind === 'join' || e.kind === 'add' || e.kind === 'release')).length;
}

test('twelve auto hosts starting together spread over four experts, converge and then stay put', () => {
  const demand = new Map(EXPERTS4.map((e) => [e, 10]));
  for (const seed of SEEDS) {
    const r = simulate({ seed, experts: EXPERTS4, fixed: [0, 0, 0, 0], auto: 12, startSpreadMs: 1000, targetReplicas: 2, demand, noise: 0.2, endMs: 600_000 });
    const label = `seed ${seed}`;
    assert.ok(r.coveredAt < 30_000, `${label}: covered at ${r.coveredAt}`);
    assert.deepEqual(r.gaps, [], `${label}: an expert lost its last replica`);
    assert.equal(changesAfter(r, 300_000), 0, `${label}: still changing after 300 s`);
    const counts = replicaCounts(EXPERTS4, r.final);
    assert.ok(Math.min(...counts) >= 2, `${label}: ${counts}`);
    assertNoFlapping(r, label);
    assertFixedPoint(r, EXPERTS4, 2, demand, label);
  }
});

test('a spare host re-hosts an expert whose replicas were all killed, and nothing flaps after', () => {
  const demand = new Map(EXPERTS4.map((e) => [e, 10]));
  const intervalMs = 4000;
  let worst = 0;
  for (const seed of SEEDS) {
    const r = simulate({
      seed, experts: EXPERTS4, fixed: [2, 2, 2, 2], auto: 1, targetReplicas: 2, demand, noise: 0.2,
      intervalMs, moveMs: [500, 3000], kills: [{ at: 60_000, expertId: 'L1.0' }], endMs: 400_000,
    });
    const label = `seed ${seed}`;
    const gaps = r.gaps.filter((g) => g.expertId === 'L1.0');
    const bound = intervalMs * 1.5 + 3000 + 500;
    assert.equal(r.gaps.length, gaps.length, `${label}: only the killed expert has a gap`);
    if (gaps.length > 0) {
      assert.equal(gaps.length, 1, `${label}: ${JSON.stringify(gaps)}`);
      assert.ok(gaps[0].until - gaps[0].from <= bound, `${label}: re-hosted after ${gaps[0].until - gaps[0].from} ms`);
      worst = Math.max(worst, gaps[0].until - gaps[0].from);
    }
    const counts = replicaCounts(EXPERTS4, r.final);
    assert.ok(counts.every((c) => c >= 1), `${label}: ${counts}`);
    assert.equal(changesAfter(r, 120_000), 0, `${label}: still changing`);
    assertNoFlapping(r, label);
  }
  assert.ok(worst > 0, 'the kill must have opened a gap in some run');
});

test('auto hosts go where demand is, and hold still under noisy steady demand', () => {
  const demand = new Map([['L0.0', 40], ['L0.1', 5], ['L1.0', 5], ['L1.1', 5]]);
  for (const seed of SEEDS) {
    const r = simulate({ seed, experts: EXPERTS4, fixed: [1, 2, 2, 2], auto: 4, targetReplicas: 2, demand, noise: 0.3, endMs: 600_000 });
    const label = `seed ${seed}`;
    const counts = replicaCounts(EXPERTS4, r.final);
    assert.ok(counts[0] > Math.max(...counts.slice(1)), `${label}: the hot expert got no more hosts: ${counts}`);
    assert.deepEqual(r.gaps, [], label);
    assert.equal(changesAfter(r, 120_000), 0, `${label}: still changing`);
    assertNoFlapping(r, label);
    assertFixedPoint(r, EXPERTS4, 2, demand, label);
  }
});

test('when demand shifts to one expert, spare hosts move there, then stay put', () => {
  const before = new Map(EXPERTS4.map((e) => [e, 10]));
  const after = new Map([['L0.0', 40], ['L0.1', 5], ['L1.0', 5], ['L1.1', 5]]);
  for (const seed of SEEDS) {
    const r = simulate({ seed, experts: EXPERTS4, fixed: [2, 2, 2, 2], auto: 4, targetReplicas: 2, demand: before, demandShift: { at: 100_000, demand: after }, noise: 0.3, endMs: 700_000 });
    const label = `seed ${seed}`;
    const counts = replicaCounts(EXPERTS4, r.final);
    // want(L0.0) = 2 * 40 / 13.75 = 5.8: it gains hosts until the margin stops it (5 of 12).
    assert.equal(counts[0], 5, `${label}: ${counts}`);
    assert.ok(counts.slice(1).every((c) => c >= 2), `${label}: cold experts keep their target: ${counts}`);
    assert.deepEqual(r.gaps, [], label);
    assert.equal(changesAfter(r, 400_000), 0, `${label}: still changing`);
    // At most three moves reach the target state; a race of two hosts leaving one expert within
    // the view's staleness can cost a refill or two, never more.
    const moves = r.events.filter((e) => e.t > 100_000 && e.kind === 'release');
    assert.ok(moves.length <= 6, `${label}: ${moves.length} moves`);
    assertFixedPoint(r, EXPERTS4, 2, after, label);
  }
});

test('seven hosts all on one expert spread to an empty one without ever emptying the first', () => {
  for (const seed of SEEDS) {
    const r = simulate({ seed, experts: ['A', 'B'], fixed: [0, 0], auto: 7, autoInitial: 'A', startSpreadMs: 300, targetReplicas: 2, maxLagMs: 300, endMs: 600_000 });
    const label = `seed ${seed}`;
    assert.ok(r.coveredAt < 20_000, `${label}: B covered at ${r.coveredAt}`);
    assert.deepEqual(r.gaps, [], `${label}: A or B lost its last replica`);
    const counts = replicaCounts(['A', 'B'], r.final);
    assert.ok(Math.min(...counts) >= 3, `${label}: ${counts}`);
    assert.equal(changesAfter(r, 120_000), 0, `${label}: still changing`);
    assertNoFlapping(r, label);
    assertFixedPoint(r, ['A', 'B'], 2, new Map(), label);
  }
});
