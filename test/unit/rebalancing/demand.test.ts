import { test } from 'vitest';
import assert from 'node:assert/strict';
import { measureDemand, smoothDemand } from '../../../expert-host/rebalancing/demand.ts';
import { rec } from './fixtures.ts';

test('demand sums throughput and weighted queue depth per expert, split over a host\'s experts', () => {
  const hosts = [
    rec('a', ['X'], { throughput: 10, queueDepth: 2 }),
    rec('b', ['X', 'Y'], { throughput: 20, queueDepth: 0 }),
    rec('c', ['Y'], { throughput: 5, queueDepth: 1, state: 'DRAINING' }),
  ];
  const d = measureDemand(['X', 'Y', 'Z'], hosts, { queueWeight: 3 });
  assert.deepEqual([...d], [['X', 10 + 6 + 10], ['Y', 10], ['Z', 0]]);
});

test("this host's own per-expert counters replace its record's even split", () => {
  const hosts = [rec('me', ['X', 'Y'], { throughput: 100 }), rec('b', ['Y'], { throughput: 4 })];
  const own = { peerId: 'me', perExpert: new Map([['X', { tokensPerS: 90, queueDepth: 1 }], ['Y', { tokensPerS: 10, queueDepth: 0 }]]) };
  const d = measureDemand(['X', 'Y'], hosts, { own });
  assert.deepEqual([...d], [['X', 91], ['Y', 14]]);
});

test('garbage numbers count as zero', () => {
  const hosts = [rec('a', ['X'], { throughput: Number.NaN, queueDepth: -3 })];
  assert.deepEqual([...measureDemand(['X'], hosts)], [['X', 0]]);
});

test('smoothing is an EMA that starts at the first sample', () => {
  const s1 = smoothDemand(undefined, new Map([['X', 10]]), 0.5);
  assert.deepEqual([...s1], [['X', 10]]);
  const s2 = smoothDemand(s1, new Map([['X', 20]]), 0.5);
  assert.deepEqual([...s2], [['X', 15]]);
});
