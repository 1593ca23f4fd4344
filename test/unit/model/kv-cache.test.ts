import assert from 'node:assert/strict';
import { test } from 'vitest';
import {
  appendKv, CAPACITY_STEP, capacityFor, copyIntoBatch, createKvCache, emptyPast, ensureCapacity, kvFloatsPerPosition,
  maskOf, pastOf, positionMajor, truncateKv,
} from '../../../shared/model/kv-cache.ts';
import type { PastKv } from '../../../shared/runtime-types.ts';

const shape = { layers: 2, nHeads: 3, headDim: 2 };
const L = shape.layers, H = shape.nHeads, Dh = shape.headDim;
const fpp = kvFloatsPerPosition(shape); // 24

/** new_kv [1, L, 2, H, T, Dh] of positions from..from+T-1 whose element (p, l, kv, h, j) is a unique number. */
function newKvOf(from: number, T: number): Float32Array {
  const a = new Float32Array(L * 2 * H * T * Dh);
  for (let l = 0; l < L; l++) for (let kv = 0; kv < 2; kv++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) for (let j = 0; j < Dh; j++) {
    a[((((l * 2 + kv) * H + h) * T) + t) * Dh + j] = value(from + t, l, kv, h, j);
  }
  return a;
}
const value = (p: number, l: number, kv: number, h: number, j: number) => p * 1000 + l * 100 + kv * 10 + h * 2 + j / 2 + 0.25;

/** The expected position-major cache [P, L, 2, H, Dh] of positions 0..P-1. */
function expected(P: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < P; p++) for (let l = 0; l < L; l++) for (let kv = 0; kv < 2; kv++) for (let h = 0; h < H; h++) for (let j = 0; j < Dh; j++) out.push(value(p, l, kv, h, j));
  return out;
}

test('capacity grows in steps of 64 slots, capped at maxLength', () => {
  assert.equal(CAPACITY_STEP, 64);
  assert.equal(capacityFor(0, 1024), 0);
  assert.equal(capacityFor(1, 1024), 64);
  assert.equal(capacityFor(64, 1024), 64);
  assert.equal(capacityFor(65, 1024), 128);
  assert.equal(capacityFor(65, 100), 100);
});

test('the whole reservation is allocated up front; appends across capacity growth keep every position', () => {
  const c = createKvCache(shape, 300);
  assert.equal(c.buffer.length, 300 * fpp);
  assert.equal(c.capacity, 0);
  const buffer = c.buffer;
  appendKv(c, newKvOf(0, 40), 40); // prefill
  assert.equal(c.capacity, 64);
  for (let p = 40; p < 140; p++) appendKv(c, newKvOf(p, 1), 1); // decode, growing to 128 then 192
  assert.equal(c.capacity, 192);
  assert.equal(c.length, 140);
  assert.equal(c.buffer, buffer, 'grown in place, never reallocated');
  assert.deepEqual([...positionMajor(c)], expected(140));
  appendKv(c, newKvOf(140, 100), 100); // a long chunk jumps several steps at once
  assert.equal(c.capacity, 256);
  assert.deepEqual([...positionMajor(c)], expected(240));
  assert.throws(() => appendKv(c, newKvOf(240, 61), 61), /301 positions exceed the cache's 300/);
  assert.equal(c.length, 240, 'a refused append changes nothing');
});

test('past views are the cache itself, [1, H, capacity, Dh] per layer; the mask marks filled slots then the new ones', () => {
  const c = createKvCache(shape, 100);
  appendKv(c, newKvOf(0, 3), 3);
  const past = pastOf(c);
  assert.equal(past.rows, 1);
  assert.equal(past.slots, 64);
  assert.equal(past.keys.length, L);
  for (const a of [...past.keys, ...past.values]) {
    assert.equal(a.length, H * 64 * Dh);
    assert.equal(a.buffer, c.buffer.buffer);
  }
  // keys of layer 1, head 2, slot 1 = position 1.
  const at = (h: number, slot: number) => (h * 64 + slot) * Dh;
  assert.deepEqual([...past.keys[1].subarray(at(2, 1), at(2, 1) + Dh)], [value(1, 1, 0, 2, 0), value(1, 1, 0, 2, 1)]);
  assert.deepEqual([...past.values[0].subarray(at(0, 2), at(0, 2) + Dh)], [value(2, 0, 1, 0, 0), value(2, 0, 1, 0, 1)]);
  const m = maskOf(c, 2);
  assert.deepEqual(m.dims, [1, 66]);
  assert.deepEqual([...m.data], [1, 1, 1, ...new Array(61).fill(0), 1, 1]);
  const empty = pastOf(createKvCache(shape, 10));
  assert.equal(empty.slots, 0);
  assert.equal(empty.keys[0].length, 0);
  assert.deepEqual([...maskOf(createKvCache(shape, 10), 2).data], [1, 1]);
});

test('truncation frees the tail; the next append overwrites it', () => {
  const c = createKvCache(shape, 100);
  appendKv(c, newKvOf(0, 5), 5);
  truncateKv(c, 2);
  assert.equal(c.length, 2);
  assert.deepEqual([...maskOf(c, 1).data.subarray(0, 6)], [1, 1, 0, 0, 0, 0]);
  const replacement = newKvOf(2, 1).map((x) => -x);
  appendKv(c, replacement, 1);
  assert.deepEqual([...positionMajor(c)].slice(0, 2 * fpp), expected(2));
  assert.deepEqual([...positionMajor(c)].slice(2 * fpp), expected(3).slice(2 * fpp).map((x) => -x));
  assert.throws(() => truncateKv(c, 4), /cannot truncate a cache of 3 positions to 4/);
  assert.throws(() => ensureCapacity(c, 101), /exceed/);
});

test('appendKv takes one row of a batched new_kv [B, L, 2, H, T, Dh]', () => {
  const rows = [newKvOf(0, 1).map((x) => x + 0.5), newKvOf(0, 1)];
  const batched = new Float32Array(rows[0].length * 2);
  batched.set(rows[0], 0);
  batched.set(rows[1], rows[0].length);
  const c = createKvCache(shape, 10);
  appendKv(c, batched, 1, 1);
  assert.deepEqual([...positionMajor(c)], expected(1));
  assert.throws(() => appendKv(c, batched, 1, 2), /expected 24 per row/);
});

test('copyIntoBatch writes a row\'s filled slots into padded [B, H, slots, Dh] tensors and nothing else', () => {
  const c = createKvCache(shape, 200);
  appendKv(c, newKvOf(0, 70), 70); // capacity 128, so the source is strided by 128 slots a head
  const slots = 80;
  const n = 2 * H * slots * Dh;
  const past: PastKv = { rows: 2, slots, keys: [new Float32Array(n), new Float32Array(n)], values: [new Float32Array(n), new Float32Array(n)] };
  copyIntoBatch(c, past, 1);
  for (let l = 0; l < L; l++) for (let kv = 0; kv < 2; kv++) {
    const t = kv === 0 ? past.keys[l] : past.values[l];
    assert.ok(t.subarray(0, H * slots * Dh).every((x) => x === 0), 'row 0 untouched');
    for (let h = 0; h < H; h++) for (let s = 0; s < slots; s++) for (let j = 0; j < Dh; j++) {
      const got = t[((1 * H + h) * slots + s) * Dh + j];
      assert.equal(got, s < 70 ? value(s, l, kv, h, j) : 0, `l${l} kv${kv} h${h} slot ${s}`);
    }
  }
  const small: PastKv = { rows: 1, slots: 10, keys: emptyPast(L, 1).keys, values: emptyPast(L, 1).values };
  assert.throws(() => copyIntoBatch(c, small, 0), /70 positions does not fit 10 slots/);
});
