import assert from 'node:assert/strict';
import { test } from 'vitest';
import { assembleBatch, BatchScratch, selectBatch, splitBatch, type BatchItem } from '../../../expert-host/batch-assembly.ts';
import { appendKv, createKvCache, type KvCache } from '../../../shared/model/kv-cache.ts';

const kv = { layers: 1, nHeads: 1, headDim: 2 }; // 4 floats per position: [L=1][k,v][H=1][Dh=2]
const D = 2;
const fill = (n: number, base: number) => new Float32Array(n).map((_, i) => base + i);

/** A cache of `P` positions whose keys are base, base+1, … and values base+100, base+101, … */
function cacheOf(P: number, base: number, maxLength = 8): KvCache {
  const c = createKvCache(kv, maxLength);
  if (P > 0) appendKv(c, Float32Array.of(...fill(P * 2, base), ...fill(P * 2, base + 100)), P); // new_kv [1,1,2,1,P,2]
  return c;
}

test('a lone session step passes views of its cache through without a copy', () => {
  const cache = cacheOf(3, 10);
  const item: BatchItem = { hidden: fill(D, 1), rows: 1, T: 1, cache };
  const a = assembleBatch([item], D, kv);
  assert.equal(a.hidden.data, item.hidden);
  assert.equal(a.past.keys[0].buffer, cache.buffer.buffer, 'keys are a view of the cache');
  assert.equal(a.past.values[0].buffer, cache.buffer.buffer, 'values are a view of the cache');
  assert.equal(a.past.rows, 1);
  assert.equal(a.past.slots, 8, 'the capacity (64-slot steps, capped at max_length 8)');
  assert.deepEqual([...a.past.keys[0].subarray(0, 6)], [...fill(6, 10)]);
  assert.deepEqual([...a.past.values[0].subarray(0, 6)], [...fill(6, 110)]);
  assert.deepEqual([...a.mask.data], [1, 1, 1, 0, 0, 0, 0, 0, 1], 'filled slots, free slots, the new position');
  assert.deepEqual(a.mask.dims, [1, 9]);
  assert.equal(a.pMax, 3);
});

test('rows with different cached lengths are copied into padded tensors and masked', () => {
  const items: BatchItem[] = [
    { hidden: fill(D, 1), rows: 1, T: 1, cache: cacheOf(2, 10) },
    { hidden: fill(D, 3), rows: 1, T: 1, cache: null },
    { hidden: fill(D, 5), rows: 1, T: 1, cache: cacheOf(3, 50) },
  ];
  const a = assembleBatch(items, D, kv);
  assert.equal(a.rows, 3);
  assert.equal(a.pMax, 3);
  assert.deepEqual(a.hidden.dims, [3, 1, 2]);
  assert.deepEqual([...a.hidden.data], [1, 2, 3, 4, 5, 6]);
  assert.equal(a.past.slots, 3);
  assert.equal(a.past.rows, 3);
  const row = (t: Float32Array, b: number) => [...t.subarray(b * 6, (b + 1) * 6)]; // [B, H=1, 3 slots, Dh=2]
  assert.deepEqual(row(a.past.keys[0], 0), [...fill(4, 10), 0, 0]);
  assert.deepEqual(row(a.past.values[0], 0), [...fill(4, 110), 0, 0]);
  assert.deepEqual(row(a.past.keys[0], 1), new Array(6).fill(0));
  assert.deepEqual(row(a.past.keys[0], 2), [...fill(6, 50)]);
  assert.deepEqual(row(a.past.values[0], 2), [...fill(6, 150)]);
  assert.deepEqual(a.mask.dims, [3, 4]);
  assert.deepEqual([...a.mask.data], [1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1]);
});

test('a truncated cache batches only its remaining positions', () => {
  const c = cacheOf(4, 10);
  c.length = 1; // a replay from position 1
  const a = assembleBatch([{ hidden: fill(D, 0), rows: 1, T: 1, cache: c }, { hidden: fill(D, 0), rows: 1, T: 1, cache: cacheOf(2, 50) }], D, kv);
  assert.equal(a.pMax, 2);
  assert.deepEqual([...a.past.keys[0].subarray(0, 4)], [10, 11, 0, 0]);
  assert.deepEqual([...a.mask.data], [1, 0, 1, 1, 1, 1]);
});

test('with a scratch, batches reuse one arena, equal fresh assembly, and pad with zeros over stale numbers', () => {
  const scratch = new BatchScratch();
  const bigger: BatchItem[] = [
    { hidden: fill(D, 1), rows: 1, T: 1, cache: cacheOf(3, 10) },
    { hidden: fill(D, 3), rows: 1, T: 1, cache: cacheOf(3, 20) },
    { hidden: fill(D, 5), rows: 1, T: 1, cache: cacheOf(3, 30) },
  ];
  const first = assembleBatch(bigger, D, kv, scratch);
  first.past.keys[0].fill(Number.NaN); // what a stale arena may hold
  first.past.values[0].fill(Number.POSITIVE_INFINITY);
  first.mask.data.fill(7);
  const held = scratch.capacity;
  const items: BatchItem[] = [
    { hidden: fill(D, 1), rows: 1, T: 1, cache: cacheOf(2, 10) },
    { hidden: fill(D, 3), rows: 1, T: 1, cache: null },
    { hidden: fill(D, 5), rows: 1, T: 1, cache: cacheOf(3, 50) },
  ];
  const reused = assembleBatch(items, D, kv, scratch);
  const fresh = assembleBatch(items, D, kv);
  assert.equal(scratch.capacity, held, 'no new arena for a batch that fits');
  assert.equal(reused.past.keys[0].buffer, first.past.keys[0].buffer, 'the same memory as the batch before');
  assert.deepEqual([...reused.hidden.data], [...fresh.hidden.data]);
  assert.deepEqual([...reused.past.keys[0]], [...fresh.past.keys[0]]);
  assert.deepEqual([...reused.past.values[0]], [...fresh.past.values[0]]);
  assert.deepEqual([...reused.mask.data], [...fresh.mask.data]);
  assert.deepEqual(reused.mask.dims, fresh.mask.dims);
});

test('multi-row Forward calls and prefill T > 1 batch by rows; results split into views', () => {
  const items: BatchItem[] = [
    { hidden: fill(2 * 3 * D, 0), rows: 2, T: 3, cache: null },
    { hidden: fill(1 * 3 * D, 100), rows: 1, T: 3, cache: null },
  ];
  const a = assembleBatch(items, D, kv);
  assert.deepEqual(a.hidden.dims, [3, 3, 2]);
  assert.equal(a.past.slots, 0);
  assert.equal(a.past.keys[0].length, 0);
  assert.deepEqual([...a.mask.data], new Array(9).fill(1));
  // new_kv [B=3, L=1, 2, H=1, T=3, Dh=2]: 12 floats a row.
  const out = { hiddenOut: { data: fill(3 * 3 * D, 0), dims: [3, 3, 2] }, newKv: { data: fill(3 * 12, 0), dims: [3, 1, 2, 1, 3, 2] } };
  const [r0, r1] = splitBatch(items, out, D, kv);
  assert.deepEqual([...r0.hidden], [...fill(12, 0)]);
  assert.deepEqual([...r1.hidden], [...fill(6, 12)]);
  assert.equal(r0.newKv.length, 24);
  assert.deepEqual([...r1.newKv], [...fill(12, 24)]);
  assert.equal(r1.hidden.buffer, out.hiddenOut.data.buffer, 'split results are views');
});

test('mixed T, or a multi-row item with a cache, is refused', () => {
  assert.throws(() => assembleBatch([
    { hidden: fill(D, 0), rows: 1, T: 1, cache: null },
    { hidden: fill(2 * D, 0), rows: 1, T: 2, cache: null },
  ], D, kv), /mixed T/);
  assert.throws(() => assembleBatch([{ hidden: fill(2 * D, 0), rows: 2, T: 1, cache: cacheOf(1, 0) }], D, kv), /one row/);
  assert.throws(() => assembleBatch([], D, kv), /no items/);
});

test('selectBatch: the oldest T, FIFO, within the row budget', () => {
  const q = [{ T: 1, rows: 1 }, { T: 5, rows: 1 }, { T: 1, rows: 1 }, { T: 1, rows: 3 }, { T: 1, rows: 1 }];
  assert.deepEqual(selectBatch(q, 16), [0, 2, 3, 4]);
  assert.deepEqual(selectBatch(q, 3), [0, 2, 4]);
  assert.deepEqual(selectBatch(q, 1), [0]);
  assert.deepEqual(selectBatch([{ T: 2, rows: 40 }, { T: 2, rows: 1 }], 8), [0], 'an oversized oldest call runs alone');
  assert.deepEqual(selectBatch([], 8), []);
});

test('selectBatch: the padded cache (rows x longest prefix) stays within its bound', () => {
  const q = [{ T: 1, rows: 1, pastLen: 100 }, { T: 1, rows: 1, pastLen: 10 }, { T: 1, rows: 1, pastLen: 300 }, { T: 1, rows: 1, pastLen: 50 }];
  assert.deepEqual(selectBatch(q, 16, 400), [0, 1, 3], 'the 300-long prefix would pad three rows to 900 positions');
  assert.deepEqual(selectBatch(q, 16, 199), [0], 'two rows of 100 already exceed 199');
  assert.deepEqual(selectBatch(q, 16), [0, 1, 2, 3]);
  assert.deepEqual(selectBatch([{ T: 1, rows: 1, pastLen: 5000 }, { T: 1, rows: 1, pastLen: 0 }], 16, 10), [0], 'an oversized oldest call still runs alone');
  assert.deepEqual(selectBatch([{ T: 4, rows: 3, pastLen: 0 }, { T: 4, rows: 2, pastLen: 0 }], 16, 1), [0, 1], 'stateless calls have no cache to copy');
});
