/**
 * The per-peer KV shares and idle rules as the session store and host core apply them, and the step
 * batcher's queue cap: in memory, on an injected clock.
 */
import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import type { ModelDims } from '../../../shared/manifest.ts';
import { createHostCore } from '../../../expert-host/host-core.ts';
import { createKvSessionStore } from '../../../expert-host/kv-session-store.ts';
import { createStepBatcher } from '../../../expert-host/step-batcher.ts';
import { fakeExpertModel } from './fake-expert-model.ts';

const shape = { layers: 1, nHeads: 1, headDim: 2 }; // 4 floats = 16 bytes a position
const code = (c: string, re: RegExp) => (e: unknown) => e instanceof SwarmpathError && e.code === c && re.test(e.message);

test('store: a borrower fills the budget; a peer within its share reclaims its least recently used sessions', () => {
  let now = 0;
  const ended: string[] = [];
  const store = createKvSessionStore({ capacityBytes: 1600, idleMs: 1e6, peerShareBytes: 400, clock: () => now, onEnd: (s, r) => ended.push(`${s.peer}:${r}`) });
  const x = Array.from({ length: 10 }, (_, i) => { now = i; return store.open('L0.0', 10, shape, 'X'); }); // 160 bytes each
  assert.equal(store.freeBytes(), 0, 'X borrowed the whole budget while it was free');
  assert.throws(() => store.open('L0.0', 1, shape, 'X'), code('RESOURCE_EXHAUSTED', /KV cache full: .*this peer holds 1600 bytes, past its share of 400 \(--peer-kv-share\)/));
  assert.equal(store.availableTo('X'), 0);
  assert.equal(store.availableTo('B'), 400);
  x[0].busy = 1; // a step is running: never reclaimed
  const b = store.open('L0.0', 20, shape, 'B'); // 320 bytes: two of X's sessions
  assert.equal(b.peer, 'B');
  assert.deepEqual(ended, ['X:reclaimed', 'X:reclaimed']);
  assert.equal(x[1].ended, 'reclaimed');
  assert.equal(x[2].ended, 'reclaimed');
  assert.equal(x[0].ended, undefined);
  assert.throws(() => store.get(x[1].id), code('UNKNOWN_SESSION', /reclaimed: its peer held more than its share/));
  store.open('L0.0', 5, shape, 'B'); // 80 more: B at exactly its share, one more X session reclaimed
  assert.equal(ended.length, 3);
  assert.equal(store.freeBytes(), 80);
  store.open('L0.0', 5, shape, 'B'); // B borrows the free 80
  assert.equal(store.freeBytes(), 0);
  assert.throws(() => store.open('L0.0', 1, shape, 'B'), code('RESOURCE_EXHAUSTED', /this peer holds 480 bytes, past its share of 400/));
  assert.equal(ended.length, 3, 'a peer past its share reclaims nothing');
});

test('store: a session never stepped is evicted after openIdleMs, a stepped one after idleMs', () => {
  let now = 0;
  const store = createKvSessionStore({ capacityBytes: 1e6, idleMs: 10_000, openIdleMs: 1000, clock: () => now });
  const never = store.open('L0.0', 4, shape, 'A');
  const used = store.open('L0.0', 4, shape, 'A');
  used.stepped = true;
  now = 1001;
  assert.deepEqual(store.evictIdle(), [never.id]);
  assert.throws(() => store.get(never.id), code('UNKNOWN_SESSION', /evicted after 10 s idle \(1 s before its first step\)/));
  now = 10_002;
  assert.deepEqual(store.evictIdle(), [used.id]);
});

test('store: openIdleMs never exceeds idleMs, and without shares nothing is reclaimed', () => {
  let now = 0;
  const store = createKvSessionStore({ capacityBytes: 160, idleMs: 500, openIdleMs: 60_000, clock: () => now });
  const s = store.open('L0.0', 10, shape, 'X');
  assert.throws(() => store.open('L0.0', 1, shape, 'B'), code('RESOURCE_EXHAUSTED', /KV cache full/));
  now = 501;
  assert.deepEqual(store.evictIdle(), [s.id]);
});

const dims: ModelDims = { d_model: 2, n_heads: 1, head_dim: 2, vocab_size: 256, max_context: 64 };

test('core: sessions carry their peer; a step marks them stepped; Info tells each caller what it could reserve', async () => {
  const c = createHostCore({
    modelName: 'm', dims, experts: [{ model: fakeExpertModel('L0.0', { layers: 1, nHeads: 1, headDim: 2 }), shardPath: '/x' }],
    kvCapacityBytes: 1600, peerKvShare: 0.25, sessionIdleMs: 60_000, openIdleMs: 1000, maxBatch: 4, batchWaitMs: 0, version: '1', device: 'cpu',
  });
  const s = c.openSession('L0.0', 64, 'X'); // 64 * 16 = 1024 bytes
  assert.equal(s.peer, 'X');
  assert.equal(s.stepped, false);
  await c.step(s, 0, { data: new Float32Array(2), dims: [1, 1, 2] });
  assert.equal(s.stepped, true);
  assert.equal(c.info().kvFreeBytes, 576, 'no caller: the host-wide free bytes');
  assert.equal(c.info('X').kvFreeBytes, 576);
  assert.equal(c.info('B').kvFreeBytes, 576, 'B: the free bytes exceed its share of 400');
  c.openSession('L0.0', 36, 'X'); // X holds all 1600
  assert.equal(c.info('X').kvFreeBytes, 0);
  assert.equal(c.info('B').kvFreeBytes, 400);
});

test('batcher: past maxQueue waiting calls, submit is refused with RESOURCE_EXHAUSTED', async () => {
  const kv = { layers: 1, nHeads: 1, headDim: 2 };
  const b = createStepBatcher({ model: fakeExpertModel('L0.0', kv), D: 2, kv, maxRows: 1, maxWaitMs: 0, maxQueue: 3, activeSessions: () => 0 });
  const item = () => ({ hidden: new Float32Array(2), rows: 1, T: 1, cache: null });
  const ok = [b.submit(item(), 'forward'), b.submit(item(), 'forward'), b.submit(item(), 'forward')];
  await assert.rejects(b.submit(item(), 'forward'), code('RESOURCE_EXHAUSTED', /expert L0.0 is busy: 3 calls already wait \(--max-queue\)/));
  await Promise.all(ok);
  assert.equal(b.queueDepth(), 0);
  await b.submit(item(), 'forward'); // room again
});
