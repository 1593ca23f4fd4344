import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { beginStep, checkStep, kvSessionBytes } from '../../../expert-host/kv-session.ts';
import { appendKv, kvFloatsPerPosition, pastOf } from '../../../shared/model/kv-cache.ts';
import { createKvSessionStore } from '../../../expert-host/kv-session-store.ts';

const shape = { layers: 2, nHeads: 4, headDim: 8 };
const fpp = kvFloatsPerPosition(shape); // 128 floats = 512 bytes a position

test('layout sizes', () => {
  assert.equal(fpp, 2 * 2 * 4 * 8);
  assert.equal(kvSessionBytes(100, fpp), 100 * 512);
});

test('a session reserves its whole cache at open; the budget is exact', () => {
  const store = createKvSessionStore({ capacityBytes: 3 * 100 * 512, idleMs: 1000 });
  const a = store.open('L0.0', 100, shape);
  assert.equal(a.buffer.length, 100 * fpp);
  assert.equal(a.reservedBytes, 100 * 512);
  assert.equal(store.freeBytes(), 2 * 100 * 512);
  store.open('L0.0', 100, shape);
  store.open('L0.1', 100, shape);
  assert.equal(store.freeBytes(), 0);
  assert.equal(store.activeFor('L0.0'), 2);
  assert.throws(() => store.open('L0.0', 1, shape), (e: unknown) => e instanceof SwarmpathError && e.code === 'RESOURCE_EXHAUSTED' && /KV cache full/.test(e.message));
  store.close(a.id);
  store.close(a.id); // idempotent
  assert.equal(store.freeBytes(), 100 * 512);
  assert.equal(store.size(), 2);
  assert.ok(store.open('L0.0', 100, shape));
});

test('idle sessions are evicted, busy ones are not, and lookups say why', () => {
  let now = 0;
  const ended: string[] = [];
  const store = createKvSessionStore({ capacityBytes: 1e9, idleMs: 1000, clock: () => now, onEnd: (s, r) => ended.push(`${s.id}:${r}`) });
  const a = store.open('L0.0', 10, shape);
  const b = store.open('L0.0', 10, shape);
  const c = store.open('L0.0', 10, shape);
  now = 900;
  store.touch(b);
  c.busy = 1;
  now = 1500;
  assert.deepEqual(store.evictIdle(), [a.id]);
  assert.equal(a.ended, 'evicted');
  assert.deepEqual(ended, [`${a.id}:evicted`]);
  assert.throws(() => store.get(a.id), (e: unknown) => e instanceof SwarmpathError && e.code === 'UNKNOWN_SESSION' && /evicted after 1 s idle/.test(e.message));
  assert.equal(store.get(b.id), b);
  now = 2000;
  assert.deepEqual(store.evictIdle(), [b.id]);
  c.busy = 0;
  assert.deepEqual(store.evictIdle(), [c.id]);
  assert.equal(store.freeBytes(), 1e9);
  assert.throws(() => store.get('nope'), /unknown session "nope"/);
  const d = store.open('L0.0', 10, shape);
  store.close(d.id);
  assert.throws(() => store.get(d.id), /is closed/);
});

test('closeAll frees everything', () => {
  const store = createKvSessionStore({ capacityBytes: 1e6, idleMs: 1000 });
  store.open('L0.0', 10, shape);
  store.open('L0.0', 10, shape);
  store.closeAll();
  assert.equal(store.size(), 0);
  assert.equal(store.freeBytes(), 1e6);
});

test('checkStep: contiguous positions, truncation allowed, bounded by max_length', () => {
  assert.deepEqual(checkStep(5, 10, 5, 1), { type: 'ok' });
  assert.deepEqual(checkStep(5, 10, 2, 3), { type: 'ok' });
  assert.deepEqual(checkStep(5, 10, 0, 10), { type: 'ok' });
  assert.match((checkStep(5, 10, 6, 1) as { message: string }).message, /past the cache length 5/);
  assert.match((checkStep(5, 10, 4, 7) as { message: string }).message, /exceeds the session's max_length 10/);
  assert.match((checkStep(5, 10, -1, 1) as { message: string }).message, /non-negative integer/);
  assert.match((checkStep(5, 10, 1.5, 1) as { message: string }).message, /non-negative integer/);
});

test('steps append at the end and a smaller position truncates first', () => {
  const store = createKvSessionStore({ capacityBytes: 1e6, idleMs: 1000 });
  const s = store.open('L0.0', 4, { layers: 1, nHeads: 1, headDim: 1 }); // new_kv of T positions: T keys then T values
  beginStep(s, 0, 2);
  appendKv(s, new Float32Array([1, 2, -1, -2]), 2);
  assert.equal(s.length, 2);
  const past = pastOf(s);
  assert.deepEqual([...past.keys[0].subarray(0, 2)], [1, 2]);
  assert.deepEqual([...past.values[0].subarray(0, 2)], [-1, -2]);
  assert.equal(past.keys[0].buffer, s.buffer.buffer, 'the past is a view of the cache');
  beginStep(s, 1, 1);
  appendKv(s, new Float32Array([9, -9]), 1);
  assert.equal(s.length, 2);
  assert.deepEqual([...pastOf(s).keys[0].subarray(0, 2)], [1, 9]);
  assert.deepEqual([...pastOf(s).values[0].subarray(0, 2)], [-1, -9]);
  assert.throws(() => beginStep(s, 3, 1), (e: unknown) => e instanceof SwarmpathError && e.code === 'INVALID_ARGUMENT');
  assert.throws(() => beginStep(s, 2, 3), /max_length 4/);
  assert.throws(() => appendKv(s, new Float32Array(1), 1), /expected 2 per row/);
});
