import assert from 'node:assert/strict';
import { test } from 'vitest';
import { pickAutoExpert } from '../../../expert-host/auto-pick.ts';

const ids = ['L0.0', 'L0.1', 'L1.0', 'L1.1'];

test('picks the expert with the fewest live replicas', () => {
  const r = pickAutoExpert(ids, new Map([['L0.0', 2], ['L0.1', 2], ['L1.0', 1], ['L1.1', 3]]), 'peerA');
  assert.deepEqual(r, { type: 'ok', expertId: 'L1.0', replicas: 1 });
});

test('an expert missing from the counts has zero replicas', () => {
  const r = pickAutoExpert(ids, new Map([['L0.0', 1], ['L0.1', 1], ['L1.1', 1]]), 'peerA');
  assert.equal(r.type === 'ok' && r.expertId, 'L1.0');
});

test('ties are spread by peer id, deterministically', () => {
  const picks = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const r = pickAutoExpert(ids, new Map(), `peer-${i}`);
    assert.equal(r.type, 'ok');
    if (r.type === 'ok') picks.add(r.expertId);
    assert.deepEqual(pickAutoExpert(ids, new Map(), `peer-${i}`), r);
  }
  assert.ok(picks.size >= 3, `40 peers spread over ${picks.size} of 4 tied experts`);
});

test('no experts: none', () => {
  assert.equal(pickAutoExpert([], new Map(), 'p').type, 'none');
});
