/**
 * The placement of `swarmpath swarm` (cli/commands/swarm-plan.ts), checked exhaustively over small
 * shapes: every expert has exactly R replicas on distinct hosts, host loads differ by at most 1 and
 * stay within K, K >= E*R gives R hosts, K = 1 gives one expert per host.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { hostCount, planHosts } from '../../../cli/commands/swarm-plan.ts';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `L${Math.floor(i / 4)}.${i % 4}`);

function* shapes(): Generator<{ E: number; R: number; K: number }> {
  for (let E = 1; E <= 20; E++) for (let R = 1; R <= 6; R++) for (let K = 1; K <= E * R + 2; K++) yield { E, R, K };
}

describe('swarm host placement', () => {
  it('gives every expert exactly R replicas, on distinct hosts', () => {
    for (const { E, R, K } of shapes()) {
      const experts = ids(E);
      const hosts = planHosts(experts, R, K);
      for (const id of experts) {
        const holders = hosts.filter((h) => h.includes(id));
        assert.equal(holders.length, R, `E=${E} R=${R} K=${K}: ${id} on ${holders.length} hosts`);
      }
      for (const h of hosts) assert.equal(new Set(h).size, h.length, `E=${E} R=${R} K=${K}: a host lists an expert twice`);
    }
  });

  it('makes H = max(R, ceil(E*R/K)) hosts whose loads differ by at most 1 and stay within K', () => {
    for (const { E, R, K } of shapes()) {
      const hosts = planHosts(ids(E), R, K);
      assert.equal(hosts.length, Math.max(R, Math.ceil((E * R) / K)));
      assert.equal(hosts.length, hostCount(E, R, K));
      const loads = hosts.map((h) => h.length);
      assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `E=${E} R=${R} K=${K}: loads ${loads}`);
      assert.ok(Math.max(...loads) <= K, `E=${E} R=${R} K=${K}: loads ${loads}`);
      assert.ok(Math.min(...loads) >= 1, `E=${E} R=${R} K=${K}: an idle host`);
    }
  });

  it('K >= E*R gives R hosts, each serving every expert', () => {
    for (let E = 1; E <= 12; E++) {
      for (let R = 1; R <= 4; R++) {
        const experts = ids(E);
        for (const K of [E * R, E * R + 1, 1000]) assert.deepEqual(planHosts(experts, R, K), Array.from({ length: R }, () => experts));
      }
    }
  });

  it('K = 1 gives one expert per host, E*R hosts', () => {
    for (let E = 1; E <= 12; E++) {
      for (let R = 1; R <= 4; R++) {
        const hosts = planHosts(ids(E), R, 1);
        assert.equal(hosts.length, E * R);
        assert.ok(hosts.every((h) => h.length === 1));
      }
    }
  });

  it('lists each host\'s experts in manifest order', () => {
    for (const { E, R, K } of shapes()) {
      const experts = ids(E);
      for (const h of planHosts(experts, R, K)) {
        const idx = h.map((id) => experts.indexOf(id));
        assert.deepEqual(idx, [...idx].sort((a, b) => a - b));
      }
    }
  });

  it('the bundled model by default (8 experts, 2 replicas, 4 per host): 4 hosts, neighbours share one host', () => {
    assert.deepEqual(planHosts(ids(8), 2, 4), [
      ['L0.0', 'L0.1', 'L1.2', 'L1.3'],
      ['L0.0', 'L0.1', 'L0.2', 'L0.3'],
      ['L0.2', 'L0.3', 'L1.0', 'L1.1'],
      ['L1.0', 'L1.1', 'L1.2', 'L1.3'],
    ]);
    assert.deepEqual(planHosts(ids(8), 1, 4), [['L0.0', 'L0.1', 'L0.2', 'L0.3'], ['L1.0', 'L1.1', 'L1.2', 'L1.3']]);
  });

  it('rejects a bad R or K, and plans nothing for no experts', () => {
    assert.throws(() => planHosts(ids(4), 0, 4), RangeError);
    assert.throws(() => planHosts(ids(4), 2, 0), RangeError);
    assert.throws(() => planHosts(ids(4), 2, 1.5), RangeError);
    assert.deepEqual(planHosts([], 2, 4), []);
  });
});
