import { test } from 'vitest';
import assert from 'node:assert/strict';
import { decideFinish } from '../../../expert-host/rebalancing/finish.ts';
import { moveStillWorthwhile } from '../../../expert-host/rebalancing/decide.ts';
import { EXPERTS4, hostsWith, noDemand, rec } from './fixtures.ts';

const base = { experts: EXPERTS4, targetReplicas: 2, demand: noDemand };

test('a move to an expert that is still empty is still worth it', () => {
  const hosts = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  assert.equal(moveStillWorthwhile({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.0'] } }, 'L0.0', 'L1.0'), true);
});

test('a move is no longer worth it once others filled the gap', () => {
  const hosts = [...hostsWith(EXPERTS4, [2, 2, 0, 2]), ...hostsWith(['L1.0'], [2], {}, 'other')];
  assert.equal(moveStillWorthwhile({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.0'] } }, 'L0.0', 'L1.0'), false);
  assert.equal(moveStillWorthwhile({ ...base, hosts, self: { peerId: 'hL0.0-0', experts: ['L0.1'] } }, 'L0.0', 'L1.0'), false, 'not serving `from`');
});

test('finish: release the old expert when others keep it', () => {
  const hosts = [...hostsWith(EXPERTS4, [2, 2, 0, 2]), rec('me', ['L0.0', 'L1.0'])];
  const d = decideFinish({ ...base, hosts, selfPeerId: 'me', serving: ['L0.0', 'L1.0'], from: 'L0.0', to: 'L1.0' });
  assert.deepEqual(d, { type: 'release', expertId: 'L0.0' });
});

test('finish: give the new expert back when the gap was filled by others meanwhile', () => {
  const hosts = [...hostsWith(EXPERTS4, [1, 2, 2, 2]), rec('me', ['L0.0', 'L1.0'])];
  const d = decideFinish({ ...base, hosts, selfPeerId: 'me', serving: ['L0.0', 'L1.0'], from: 'L0.0', to: 'L1.0' });
  assert.deepEqual(d, { type: 'abort', expertId: 'L1.0' });
});

test('finish: hold both when this host is the last of the old expert and the only one of the new', () => {
  const hosts = [...hostsWith(EXPERTS4, [0, 2, 0, 2]), rec('me', ['L0.0', 'L1.0'])];
  const d = decideFinish({ ...base, hosts, selfPeerId: 'me', serving: ['L0.0', 'L1.0'], from: 'L0.0', to: 'L1.0' });
  assert.deepEqual(d, { type: 'hold' });
});
