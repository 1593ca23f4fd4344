import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assembleBatch, selectBatch, splitBatch, type BatchItem } from '../../../expert-host/batch-assembly.ts';

const kv = { layers: 1, nHeads: 1, headDim: 2 }; // 4 floats per position
const D = 2;
const fill = (n: number, base: number) => new Float32Array(n).map((_, i) => base + i);

test('a lone call passes its buffers through without a copy', () => {
  const past = fill(3 * 4, 100);
  const item: BatchItem = { hidden: fill(D, 1), rows: 1, T: 1, past, pastLen: 3 };
  const a = assembleBatch([item], D, kv);
  assert.equal(a.hidden.data, item.hidden);
  assert.equal(a.pastKv.data, past);
  assert.deepEqual(a.pastKv.dims, [1, 3, 1, 2, 1, 2]);
  assert.deepEqual([...a.mask.data], [1, 1, 1, 1]);
  assert.deepEqual(a.mask.dims, [1, 4]);
});

test('rows with different cached lengths are right-padded with zeros and masked', () => {
  const items: BatchItem[] = [
    { hidden: fill(D, 1), rows: 1, T: 1, past: fill(2 * 4, 10), pastLen: 2 },
    { hidden: fill(D, 3), rows: 1, T: 1, past: null, pastLen: 0 },
    { hidden: fill(D, 5), rows: 1, T: 1, past: fill(3 * 4, 50), pastLen: 3 },
  ];
  const a = assembleBatch(items, D, kv);
  assert.equal(a.rows, 3);
  assert.equal(a.pMax, 3);
  assert.deepEqual(a.hidden.dims, [3, 1, 2]);
  assert.deepEqual([...a.hidden.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(a.pastKv.dims, [3, 3, 1, 2, 1, 2]);
  const row = (b: number) => [...a.pastKv.data.subarray(b * 12, (b + 1) * 12)];
  assert.deepEqual(row(0), [...fill(8, 10), 0, 0, 0, 0]);
  assert.deepEqual(row(1), new Array(12).fill(0));
  assert.deepEqual(row(2), [...fill(12, 50)]);
  assert.deepEqual(a.mask.dims, [3, 4]);
  assert.deepEqual([...a.mask.data], [1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1]);
});

test('multi-row Forward calls and prefill T > 1 batch by rows', () => {
  const items: BatchItem[] = [
    { hidden: fill(2 * 3 * D, 0), rows: 2, T: 3, past: null, pastLen: 0 },
    { hidden: fill(1 * 3 * D, 100), rows: 1, T: 3, past: null, pastLen: 0 },
  ];
  const a = assembleBatch(items, D, kv);
  assert.deepEqual(a.hidden.dims, [3, 3, 2]);
  assert.deepEqual(a.pastKv.dims, [3, 0, 1, 2, 1, 2]);
  assert.deepEqual([...a.mask.data], new Array(9).fill(1));
  const out = { hiddenOut: { data: fill(3 * 3 * D, 0), dims: [3, 3, 2] }, newKv: { data: fill(3 * 3 * 4, 0), dims: [3, 3, 1, 2, 1, 2] } };
  const [r0, r1] = splitBatch(items, out, D, kv);
  assert.deepEqual([...r0.hidden], [...fill(12, 0)]);
  assert.deepEqual([...r1.hidden], [...fill(6, 12)]);
  assert.equal(r0.newKv.length, 24);
  assert.deepEqual([...r1.newKv], [...fill(12, 24)]);
  assert.equal(r1.hidden.buffer, out.hiddenOut.data.buffer, 'split results are views');
});

test('mixed T, or a multi-row item with a past, is refused', () => {
  assert.throws(() => assembleBatch([
    { hidden: fill(D, 0), rows: 1, T: 1, past: null, pastLen: 0 },
    { hidden: fill(2 * D, 0), rows: 1, T: 2, past: null, pastLen: 0 },
  ], D, kv), /mixed T/);
  assert.throws(() => assembleBatch([{ hidden: fill(2 * D, 0), rows: 2, T: 1, past: fill(4, 0), pastLen: 1 }], D, kv), /one row/);
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
