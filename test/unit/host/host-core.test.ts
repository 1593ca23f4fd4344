import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import type { ModelDims } from '../../../shared/manifest.ts';
import { createHostCore } from '../../../expert-host/host-core.ts';
import { fakeExpertModel } from './fake-expert-model.ts';

const dims: ModelDims = { d_model: 4, n_heads: 2, head_dim: 2, vocab_size: 256, max_context: 32 };
const kv = { layers: 2, nHeads: 2, headDim: 2 };
const rnd = (n: number, seed: number) => new Float32Array(n).map((_, i) => Math.cos(seed + i * 0.7));
const code = (c: string, re?: RegExp) => (e: unknown) => e instanceof SwarmpathError && e.code === c && (!re || re.test(e.message));

function core(over: Partial<Parameters<typeof createHostCore>[0]> = {}) {
  return createHostCore({
    modelName: 'm', dims, experts: [{ model: fakeExpertModel('L0.0', kv), shardPath: '/x' }, { model: fakeExpertModel('L1.0', kv), shardPath: '/y' }],
    kvCapacityBytes: 1 << 20, sessionIdleMs: 60_000, maxBatch: 8, batchWaitMs: 0, version: '1', device: 'cpu', ...over,
  });
}

test('a session decoded step by step equals one Forward over the whole sequence', async () => {
  const c = core();
  const seq = rnd(6 * 4, 1);
  const full = await c.forward('L0.0', { data: seq, dims: [1, 6, 4] });
  const s = c.openSession('L0.0', 8);
  const a = await c.step(s, 0, { data: seq.slice(0, 12), dims: [1, 3, 4] });
  const out = [...a.hidden];
  for (let p = 3; p < 6; p++) {
    const r = await c.step(s, p, { data: seq.slice(p * 4, p * 4 + 4), dims: [1, 1, 4] });
    assert.equal(r.length, p + 1);
    out.push(...r.hidden);
  }
  assert.deepEqual(out, [...full]);
  // A replay from position 2 (truncation) gives the same tail.
  const again = await c.step(s, 2, { data: seq.slice(8), dims: [1, 4, 4] });
  assert.deepEqual([...again.hidden], [...full.subarray(8)]);
  assert.equal(again.length, 6);
});

test('Info reports experts, KV accounting and state', async () => {
  const c = core({ kvCapacityBytes: 10_000 });
  c.setPeerId('peer');
  const s = c.openSession('L1.0', 10); // 10 * 2*2*2*2 floats * 4 = 640 bytes
  const i = c.info();
  assert.equal(i.peerId, 'peer');
  assert.equal(i.kvCapacityBytes, 10_000);
  assert.equal(i.kvFreeBytes, 10_000 - 640);
  assert.deepEqual(i.experts.map((e) => [e.expertId, e.activeSessions]), [['L0.0', 0], ['L1.0', 1]]);
  assert.equal(i.state, 'ONLINE');
  assert.equal(i.maxContext, 32);
  c.closeSession(s.id);
  assert.equal(c.info().kvFreeBytes, 10_000);
});

test('bad input is refused with clear errors', async () => {
  const c = core({ kvCapacityBytes: 640 });
  await assert.rejects(c.forward('L9.9', { data: rnd(4, 0), dims: [1, 1, 4] }), code('UNKNOWN_EXPERT', /serves L0.0, L1.0/));
  await assert.rejects(c.forward('L0.0', { data: rnd(6, 0), dims: [1, 2, 3] }), code('INVALID_ARGUMENT', /\[B,T,4\]/));
  assert.throws(() => c.openSession('L0.0', 33), code('INVALID_ARGUMENT', /max_context/));
  assert.throws(() => c.openSession('L0.0', 0), code('INVALID_ARGUMENT'));
  const s = c.openSession('L0.0', 10);
  assert.throws(() => c.openSession('L0.0', 1), code('RESOURCE_EXHAUSTED'));
  await assert.rejects(c.step(s, 1, { data: rnd(4, 0), dims: [1, 1, 4] }), code('INVALID_ARGUMENT', /past the cache length 0/));
  await assert.rejects(c.step(s, 0, { data: rnd(8, 0), dims: [2, 1, 4] }), code('INVALID_ARGUMENT', /\[1,T,4\]/));
  await assert.rejects(c.step(s, 0, { data: rnd(44, 0), dims: [1, 11, 4] }), code('INVALID_ARGUMENT', /max_length 10/));
  c.closeSession(s.id);
  await assert.rejects(c.step(s, 0, { data: rnd(4, 0), dims: [1, 1, 4] }), code('UNKNOWN_SESSION', /closed/));
});

test('a draining host refuses new work but finishes open sessions', async () => {
  const c = core();
  const s = c.openSession('L0.0', 4);
  c.setState('DRAINING');
  assert.throws(() => c.openSession('L0.0', 4), code('UNAVAILABLE', /DRAINING/));
  await assert.rejects(c.forward('L0.0', { data: rnd(4, 0), dims: [1, 1, 4] }), code('UNAVAILABLE'));
  const r = await c.step(s, 0, { data: rnd(4, 0), dims: [1, 1, 4] });
  assert.equal(r.length, 1);
  assert.equal(c.info().state, 'DRAINING');
});

test('concurrent sessions batch, and each gets its own result', async () => {
  const m = fakeExpertModel('L0.0', kv);
  const c = core({ experts: [{ model: m, shardPath: '/x' }] });
  const sessions = [1, 2, 3, 4].map(() => c.openSession('L0.0', 8));
  // Different prefix lengths: 1..4.
  for (let k = 0; k < 4; k++) await c.step(sessions[k], 0, { data: rnd((k + 1) * 4, k), dims: [1, k + 1, 4] });
  const runsBefore = m.runs.length;
  const together = await Promise.all(sessions.map((s, k) => c.step(s, k + 1, { data: rnd(4, 10 + k), dims: [1, 1, 4] })));
  assert.deepEqual(m.runs.slice(runsBefore), [4]);
  for (let k = 0; k < 4; k++) {
    const ref = await c.forward('L0.0', { data: new Float32Array([...rnd((k + 1) * 4, k), ...rnd(4, 10 + k)]), dims: [1, k + 2, 4] });
    assert.deepEqual([...together[k].hidden], [...ref.subarray((k + 1) * 4)], `session ${k}`);
  }
  assert.equal(c.batchSizes()['L0.0'][4], 1);
});

test('eviction ends a session and notifies its listener', async () => {
  let now = 0;
  const c = core({ sessionIdleMs: 100, clock: () => now });
  const s = c.openSession('L0.0', 4);
  const reasons: string[] = [];
  c.onSessionEnd(s.id, (r) => reasons.push(r));
  now = 200;
  assert.deepEqual(c.store.evictIdle(), [s.id]);
  assert.deepEqual(reasons, ['evicted']);
  await assert.rejects(c.step(s, 0, { data: rnd(4, 0), dims: [1, 1, 4] }), code('UNKNOWN_SESSION', /evicted/));
});

test('removeExpert ends its sessions (retired) and later calls fail; addExpert serves at once', async () => {
  const c = core();
  const s = c.openSession('L1.0', 4);
  const reasons: string[] = [];
  c.onSessionEnd(s.id, (r) => reasons.push(r));
  const pending = c.step(s, 0, { data: rnd(4, 0), dims: [1, 1, 4] });
  const removed = await c.removeExpert('L1.0');
  assert.equal(removed?.model.entry.id, 'L1.0');
  assert.deepEqual(reasons, ['retired']);
  await assert.rejects(pending, code('UNKNOWN_SESSION', /no longer serves its expert/));
  assert.deepEqual(c.info().experts.map((e) => e.expertId), ['L0.0']);
  assert.equal(c.info().kvFreeBytes, 1 << 20);
  await assert.rejects(c.forward('L1.0', { data: rnd(4, 0), dims: [1, 1, 4] }), code('UNKNOWN_EXPERT'));
  assert.equal(await c.removeExpert('L1.0'), undefined);
  c.addExpert(removed!);
  assert.deepEqual(c.info().experts.map((e) => e.expertId), ['L0.0', 'L1.0']);
  assert.throws(() => c.addExpert(removed!), code('FAILED_PRECONDITION'));
  const out = await c.forward('L1.0', { data: rnd(4, 0), dims: [1, 1, 4] });
  assert.equal(out.length, 4);
});
