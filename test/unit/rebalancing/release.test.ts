import { test } from 'vitest';
import assert from 'node:assert/strict';
import { decideRelease } from '../../../expert-host/rebalancing/release.ts';
import { rec } from './fixtures.ts';

test('releases when another host serves only that expert', () => {
  const hosts = [rec('a', ['X']), rec('me', ['X', 'Y'])];
  assert.deepEqual(decideRelease({ hosts, selfPeerId: 'me', expertId: 'X', minReplicas: 1 }), { type: 'release', remaining: 1 });
});

test('holds when it is the last host of the expert', () => {
  const hosts = [rec('a', ['Y']), rec('me', ['X', 'Y'])];
  assert.deepEqual(decideRelease({ hosts, selfPeerId: 'me', expertId: 'X', minReplicas: 1 }),
    { type: 'hold', remaining: 0, reason: 'would-drop-below-min' });
});

test('of two auto hosts leaving the same expert at once, exactly one releases', () => {
  const hosts = [rec('p1', ['X', 'Y']), rec('p2', ['X', 'Z'])];
  const r1 = decideRelease({ hosts, selfPeerId: 'p1', expertId: 'X', minReplicas: 1 });
  const r2 = decideRelease({ hosts, selfPeerId: 'p2', expertId: 'X', minReplicas: 1 });
  assert.equal(r1.type, 'release');
  assert.equal(r2.type, 'hold');
});

test('property: hosts leaving together on one view always leave at least minReplicas behind', () => {
  for (let n = 1; n <= 6; n++) {
    for (let mask = 0; mask < (1 << n); mask++) {
      // Host i is multi-expert (maybe leaving) when bit i is set, else it serves X alone.
      const hosts = Array.from({ length: n }, (_, i) => rec(`p${i}`, (mask >> i) & 1 ? ['X', `Y${i}`] : ['X']));
      for (const minReplicas of [1, 2]) {
        const leaving = hosts.filter((h) => h.experts.length > 1 &&
          decideRelease({ hosts, selfPeerId: h.peerId, expertId: 'X', minReplicas }).type === 'release');
        const left = n - leaving.length;
        assert.ok(left >= Math.min(minReplicas, n), `n=${n} mask=${mask} min=${minReplicas}: ${left} left`);
        if (n > minReplicas && mask !== 0) assert.ok(leaving.length > 0, 'someone may leave when enough stay');
      }
    }
  }
});

test('pinned hosts (auto false) always count as remaining; a migrating one ordered before may be leaving; DRAINING never counts', () => {
  const pinned = [rec('a', ['X', 'Y'], { auto: false }), rec('me', ['X', 'Z'])];
  assert.equal(decideRelease({ hosts: pinned, selfPeerId: 'me', expertId: 'X', minReplicas: 1 }).type, 'release');
  const moving = [rec('a', ['X', 'Y'], { auto: true }), rec('me', ['X', 'Z'])];
  assert.equal(decideRelease({ hosts: moving, selfPeerId: 'me', expertId: 'X', minReplicas: 1 }).type, 'hold');
  assert.equal(decideRelease({ hosts: moving, selfPeerId: 'a', expertId: 'X', minReplicas: 1 }).type, 'release');
  const draining = [rec('a', ['X'], { state: 'DRAINING' }), rec('me', ['X', 'Z'])];
  assert.equal(decideRelease({ hosts: draining, selfPeerId: 'me', expertId: 'X', minReplicas: 1 }).type, 'hold');
});
