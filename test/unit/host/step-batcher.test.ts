import assert from 'node:assert/strict';
import { onTestFinished, test, vi } from 'vitest';
import { createStepBatcher } from '../../../expert-host/step-batcher.ts';
import type { BatchItem } from '../../../expert-host/batch-assembly.ts';
import { appendKv, createKvCache } from '../../../shared/model/kv-cache.ts';
import { fakeExpertModel } from './fake-expert-model.ts';

const kv = { layers: 2, nHeads: 2, headDim: 3 };
const D = 6;
const fpp = 2 * 2 * D;
const rnd = (n: number, seed: number) => new Float32Array(n).map((_, i) => Math.sin(seed * 7.1 + i * 1.3));

/** A session's cache holding P positions of random keys and values. */
function cacheOf(P: number, seed: number) {
  const c = createKvCache(kv, 64);
  appendKv(c, rnd(P * fpp, seed), P);
  return c;
}

function items(): BatchItem[] {
  return [0, 3, 1, 7, 0, 5].map((P, k) => ({ hidden: rnd(D, k), rows: 1, T: 1, cache: P ? cacheOf(P, 100 + k) : null }));
}

test('concurrent calls run as one batch and equal their one-by-one results', async () => {
  const model = fakeExpertModel('L0.0', kv);
  const b = createStepBatcher({ model, D, kv, maxRows: 16, maxWaitMs: 0, activeSessions: () => 6 });
  const together = await Promise.all(items().map((it) => b.submit(it, 'session')));
  assert.deepEqual(model.runs, [6]);
  assert.deepEqual([...b.batchSizes()], [[6, 1]]);
  const alone = [];
  for (const it of items()) alone.push(await b.submit(it, 'session'));
  assert.deepEqual(model.runs, [6, 1, 1, 1, 1, 1, 1]);
  for (let i = 0; i < alone.length; i++) {
    assert.deepEqual([...together[i].hidden], [...alone[i].hidden], `item ${i} hidden`);
    assert.deepEqual([...together[i].newKv], [...alone[i].newKv], `item ${i} new kv`);
  }
  assert.equal(b.queueDepth(), 0);
});

test('the row budget splits a queue into several batches; different T never mix', async () => {
  const model = fakeExpertModel('L0.0', kv);
  const b = createStepBatcher({ model, D, kv, maxRows: 4, maxWaitMs: 0, activeSessions: () => 0 });
  const calls = items().map((it) => b.submit(it, 'session'));
  calls.push(b.submit({ hidden: rnd(3 * D, 9), rows: 1, T: 3, cache: null }, 'forward'));
  await Promise.all(calls);
  assert.deepEqual(model.runs, [4, 2, 1]);
});

test('a call arriving while a batch runs waits and joins the next batch', async () => {
  const model = fakeExpertModel('L0.0', kv);
  const b = createStepBatcher({ model, D, kv, maxRows: 16, maxWaitMs: 0, activeSessions: () => 0 });
  const [x, y, z] = items();
  const first = b.submit(x, 'session');
  await new Promise((r) => setImmediate(r)); // the first batch (of 1) starts
  const rest = [b.submit(y, 'session'), b.submit(z, 'session')];
  assert.equal(b.queueDepth(), 3);
  await Promise.all([first, ...rest]);
  assert.deepEqual(model.runs, [1, 2]);
  await b.idle();
});

test('with maxWaitMs and other open sessions, a lone call waits for company', async () => {
  // The batcher's wait is a setTimeout on its clock: fake both (its flushes and the model run on setImmediate).
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  onTestFinished(() => { vi.useRealTimers(); });
  const model = fakeExpertModel('L0.0', kv);
  const b = createStepBatcher({ model, D, kv, maxRows: 16, maxWaitMs: 30, activeSessions: () => 2, clock: () => Date.now() });
  const [x, y] = items();
  const first = b.submit(x, 'session');
  await vi.advanceTimersByTimeAsync(5);
  assert.deepEqual(model.runs, [], 'within maxWaitMs the lone call has not run');
  const second = b.submit(y, 'session');
  await Promise.all([first, second]);
  assert.deepEqual(model.runs, [2]);
});

test('a failing model rejects every call of the batch; the batcher keeps working', async () => {
  const bad = fakeExpertModel('L0.0', kv, { failWith: new Error('onnx exploded') });
  const b = createStepBatcher({ model: bad, D, kv, maxRows: 16, maxWaitMs: 0, activeSessions: () => 0 });
  const rs = await Promise.allSettled(items().slice(0, 2).map((it) => b.submit(it, 'session')));
  for (const r of rs) {
    assert.equal(r.status, 'rejected');
    assert.match(String((r as PromiseRejectedResult).reason.message), /expert L0.0 failed: onnx exploded/);
    assert.equal((r as PromiseRejectedResult).reason.code, 'INTERNAL');
  }
  assert.equal(b.queueDepth(), 0);
  await b.idle();
});

test('maxBatchKvBytes splits long caches into smaller batches', async () => {
  const model = fakeExpertModel('L0.0', kv);
  const positionBytes = fpp * 4;
  const b = createStepBatcher({ model, D, kv, maxRows: 16, maxWaitMs: 0, activeSessions: () => 0, maxBatchKvBytes: 2 * 10 * positionBytes });
  const long = (k: number): BatchItem => ({ hidden: rnd(D, k), rows: 1, T: 1, cache: cacheOf(10, k) });
  await Promise.all([0, 1, 2, 3, 4].map((k) => b.submit(long(k), 'session')));
  assert.deepEqual(model.runs, [2, 2, 1]);
});
