import { test } from 'vitest';
import assert from 'node:assert/strict';
import { decideRebalance } from '../../../expert-host/rebalancing/decide.ts';
import { demandWeights, effectiveHosts, expertBalances } from '../../../expert-host/rebalancing/balance.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import type { RebalanceDecision } from '../../../expert-host/rebalancing/types.ts';
import { EXPERTS4, hostsWith, noDemand, prng, rec } from './fixtures.ts';

const base = { experts: EXPERTS4, targetReplicas: 2, demand: noDemand };

test('a newcomer joins the expert with no live replica', () => {
  const hosts = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'new', experts: [] } });
  assert.deepEqual(d, { type: 'join', expertId: 'L1.0', reason: 'no-live-replica', score: 0 });
});

test('a newcomer joins the expert with the fewest replicas relative to its target', () => {
  const hosts = hostsWith(EXPERTS4, [3, 1, 2, 2]);
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'new', experts: [] } });
  assert.equal(d.type, 'join');
  assert.equal(d.type === 'join' && d.expertId, 'L0.1');
  assert.equal(d.type === 'join' && d.reason, 'neediest');
});

test('a newcomer joins the expert with the most demand when replica counts are equal', () => {
  const hosts = hostsWith(EXPERTS4, [2, 2, 2, 2]);
  const demand = new Map([['L0.0', 10], ['L0.1', 10], ['L1.0', 50], ['L1.1', 10]]);
  const d = decideRebalance({ ...base, demand, hosts, self: { peerId: 'new', experts: [] } });
  assert.equal(d.type === 'join' && d.expertId, 'L1.0');
});

test('newcomers that see the same view spread over equally needy experts', () => {
  const hosts = hostsWith(EXPERTS4, [1, 1, 1, 1]);
  const chosen = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const d = decideRebalance({ ...base, hosts, self: { peerId: `peer-${i}`, experts: [] } });
    assert.equal(d.type, 'join');
    if (d.type === 'join') chosen.add(d.expertId);
  }
  assert.deepEqual([...chosen].sort(), [...EXPERTS4].sort());
});

test('a host of an over-provisioned expert moves to an expert with no live replica', () => {
  const hosts = hostsWith(EXPERTS4, [3, 2, 0, 2]);
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.0'] } });
  assert.equal(d.type, 'move');
  if (d.type !== 'move') return;
  assert.equal(d.from, 'L0.0');
  assert.equal(d.to, 'L1.0');
  assert.equal(d.reason, 'no-live-replica');
  assert.ok(d.before / d.after < 0.75);
});

test('a host at target moves to an expert that lost every replica (it keeps one)', () => {
  const hosts = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'hL0.1-1', experts: ['L0.1'] } });
  assert.equal(d.type === 'move' && d.to, 'L1.0');
});

test('a host never leaves an expert that would have no replica', () => {
  const hosts = hostsWith(EXPERTS4, [1, 2, 0, 2]);
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.0'] } });
  assert.deepEqual(d, { type: 'stay' });
});

test('minReplicas 2 keeps two replicas on the source', () => {
  const hosts = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.0'] }, options: { minReplicas: 2 } });
  assert.deepEqual(d, { type: 'stay' });
});

test('moves only with a clear margin: 4/1 moves, 3/2 stays, one spare over target stays', () => {
  const two = ['A', 'B'];
  const mk = (a: number, b: number) => hostsWith(two, [a, b]);
  const m = decideRebalance({ experts: two, targetReplicas: 2, demand: noDemand, hosts: mk(4, 1), self: { peerId: 'hA-0', experts: ['A'] } });
  assert.equal(m.type === 'move' && m.to, 'B');
  const s = decideRebalance({ experts: two, targetReplicas: 2, demand: noDemand, hosts: mk(3, 2), self: { peerId: 'hA-0', experts: ['A'] } });
  assert.deepEqual(s, { type: 'stay' });
  const spare = decideRebalance({ ...base, hosts: hostsWith(EXPERTS4, [3, 2, 2, 2]), self: { peerId: 'hL0.0-2', experts: ['L0.0'] } });
  assert.deepEqual(spare, { type: 'stay' });
});

test('moves towards demand: a hot expert draws a spare host from an over-provisioned cold one', () => {
  const hosts = hostsWith(EXPERTS4, [2, 3, 3, 3]);
  const self = { peerId: 'hL1.1-0', experts: ['L1.1'] };
  assert.deepEqual(decideRebalance({ ...base, hosts, self }), { type: 'stay' }, 'without demand nobody needs it');
  const demand = new Map([['L0.0', 100], ['L0.1', 5], ['L1.0', 5], ['L1.1', 5]]);
  const d = decideRebalance({ ...base, demand, hosts, self });
  assert.equal(d.type, 'move');
  assert.equal(d.type === 'move' && d.to, 'L0.0');
  assert.equal(d.type === 'move' && d.reason, 'under-provisioned');
});

test('demand alone never pulls an expert below its target', () => {
  const hosts = hostsWith(EXPERTS4, [2, 2, 2, 2]);
  const demand = new Map([['L0.0', 1000], ['L0.1', 0], ['L1.0', 0], ['L1.1', 0]]);
  const d = decideRebalance({ ...base, demand, hosts, self: { peerId: 'hL0.1-0', experts: ['L0.1'] } });
  assert.deepEqual(d, { type: 'stay' });
});

test('DRAINING and OFFLINE records do not count as replicas', () => {
  const hosts: HostRecord[] = [
    ...hostsWith(EXPERTS4, [3, 2, 0, 2]),
    rec('drain', ['L1.0'], { state: 'DRAINING' }), rec('off', ['L1.0'], { state: 'OFFLINE' }),
  ];
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.0'] } });
  assert.equal(d.type === 'move' && d.to, 'L1.0');
});

test("self's stale DHT record is replaced by what it really serves", () => {
  const hosts = [...hostsWith(EXPERTS4, [2, 2, 2, 1]), rec('me', ['L1.1'])];
  // The record says `me` serves L1.1, but it is a newcomer that serves nothing yet.
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'me', experts: [] } });
  assert.equal(d.type === 'join' && d.expertId, 'L1.1');
});

test('records of experts not in the model are ignored; an empty model means stay', () => {
  const hosts = [rec('x', ['Z9.9']), ...hostsWith(EXPERTS4, [2, 2, 2, 2])];
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'x', experts: ['Z9.9'] } });
  assert.equal(d.type, 'join');
  assert.deepEqual(decideRebalance({ ...base, experts: [], hosts, self: { peerId: 'x', experts: [] } }), { type: 'stay' });
});

test('a host serving two experts moves the one whose leaving helps (and keeps the other)', () => {
  const hosts = [...hostsWith(EXPERTS4, [2, 1, 0, 2]), rec('me', ['L0.0', 'L0.1'])];
  const d = decideRebalance({ ...base, hosts, self: { peerId: 'me', experts: ['L0.0', 'L0.1'] } });
  assert.equal(d.type, 'move');
  if (d.type === 'move') {
    assert.equal(d.from, 'L0.0');
    assert.equal(d.to, 'L1.0');
  }
});

test('balances: a host serving two experts counts as a replica of each (a migrating host is not half a replica)', () => {
  const holders = effectiveHosts([rec('a', ['A', 'B']), rec('b', ['A'])], undefined);
  const bal = expertBalances(['A', 'B'], holders, 2, demandWeights(['A', 'B'], new Map([['A', 3], ['B', 1]]), { minWeight: 1, maxWeight: 4 }));
  assert.deepEqual({ ...bal.get('A') }, { expertId: 'A', replicas: 2, supply: 2, want: 3, score: 2 / 3 });
  assert.deepEqual({ ...bal.get('B') }, { expertId: 'B', replicas: 1, supply: 1, want: 2, score: 0.5 });
});

/** Leximin comparison of score vectors: > 0 when x is better (its sorted scores win at the first difference). */
function leximin(x: number[], y: number[]): number {
  const a = [...x].sort((p, q) => p - q);
  const b = [...y].sort((p, q) => p - q);
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i] - b[i]) > 1e-9) return a[i] - b[i];
  return 0;
}

function scores(experts: string[], hosts: HostRecord[], target: number, demand: Map<string, number>): number[] {
  const bal = expertBalances(experts, effectiveHosts(hosts, undefined), target, demandWeights(experts, demand, { minWeight: 1, maxWeight: 4 }));
  return experts.map((e) => bal.get(e)!.score);
}

function apply(hosts: HostRecord[], peerId: string, d: RebalanceDecision): HostRecord[] {
  return hosts.map((h) => {
    if (h.peerId !== peerId) return h;
    if (d.type === 'join') return { ...h, experts: [d.expertId] };
    if (d.type === 'move') return { ...h, experts: h.experts.map((e) => (e === d.from ? d.to : e)) };
    return h;
  });
}

test('property: every move keeps minReplicas on its source and strictly improves the leximin of scores', () => {
  const rand = prng(7);
  let moves = 0;
  for (let trial = 0; trial < 400; trial++) {
    const k = 2 + Math.floor(rand() * 5);
    const experts = Array.from({ length: k }, (_, i) => `L0.${i}`);
    const counts = experts.map(() => Math.floor(rand() * 5));
    const hosts = hostsWith(experts, counts, { auto: true });
    const demand = new Map(experts.map((e) => [e, rand() < 0.3 ? 0 : rand() * 100]));
    const target = 1 + Math.floor(rand() * 3);
    const minReplicas = 1 + Math.floor(rand() * 2);
    for (const h of hosts) {
      const d = decideRebalance({ experts, hosts, targetReplicas: target, demand, self: { peerId: h.peerId, experts: h.experts }, options: { minReplicas } });
      assert.notEqual(d.type, 'join', 'a host that serves an expert of the model never "joins"');
      if (d.type !== 'move') continue;
      moves++;
      const from = hosts.filter((x) => x.experts.includes(d.from)).length;
      const toEmpty = !hosts.some((x) => x.experts.includes(d.to));
      const floor = toEmpty ? minReplicas : Math.max(minReplicas, target);
      assert.ok(from - 1 >= floor, `left ${d.from} with ${from - 1} < ${floor}`);
      const after = apply(hosts, h.peerId, d);
      assert.ok(leximin(scores(experts, after, target, demand), scores(experts, hosts, target, demand)) > 0);
    }
  }
  assert.ok(moves > 100, `the property must be exercised (got ${moves} moves)`);
});

test('property: hosts deciding one after another in random order converge, then all stay', () => {
  const rand = prng(11);
  for (let trial = 0; trial < 200; trial++) {
    const k = 2 + Math.floor(rand() * 6);
    const experts = Array.from({ length: k }, (_, i) => `L${i % 2}.${i}`);
    const n = k + Math.floor(rand() * 3 * k);
    let hosts = Array.from({ length: n }, (_, i) => rec(`p${i}`, [experts[Math.floor(rand() * rand() * k)]]));
    const demand = new Map(experts.map((e) => [e, rand() * 10]));
    let moves = 0;
    for (let round = 0; round < 200; round++) {
      const h = hosts[Math.floor(rand() * hosts.length)];
      const d = decideRebalance({ experts, hosts, targetReplicas: 2, demand, self: { peerId: h.peerId, experts: h.experts } });
      if (d.type === 'move') { hosts = apply(hosts, h.peerId, d); moves++; }
    }
    for (const h of hosts) {
      const d = decideRebalance({ experts, hosts, targetReplicas: 2, demand, self: { peerId: h.peerId, experts: h.experts } });
      assert.deepEqual(d, { type: 'stay' }, `trial ${trial}: ${h.peerId} still wants to move after ${moves} moves`);
    }
    const covered = experts.filter((e) => hosts.some((h) => h.experts.includes(e))).length;
    assert.equal(covered, Math.min(k, n), `trial ${trial}: every expert is served when there are enough hosts`);
  }
});
