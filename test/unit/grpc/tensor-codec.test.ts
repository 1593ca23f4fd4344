import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { decodeTensor, encodeTensor, protoDtype, wireDtypeOf } from '../../../shared/grpc/tensor-codec.ts';

const t = (dims: number[]) => ({ data: new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => i * 0.25 - 3), dims });

function rejects(f: () => unknown, re: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof SwarmpathError && e.code === 'INVALID_ARGUMENT' && re.test(e.message));
}

test('float32 encodes as a view of the same memory and decodes without a copy when aligned', () => {
  const x = t([2, 3, 4]);
  const msg = encodeTensor(x);
  assert.equal(msg.dtype, 'FLOAT32');
  assert.deepEqual(msg.shape, [2, 3, 4]);
  assert.equal(msg.data.buffer, x.data.buffer);
  const y = decodeTensor(msg, [2, null, 4]);
  assert.equal(y.data.buffer, x.data.buffer, 'zero-copy decode');
  assert.deepEqual([...y.data], [...x.data]);
  assert.deepEqual(y.dims, [2, 3, 4]);
});

test('unaligned float32 bytes are copied and still decode exactly', () => {
  const x = t([1, 2, 3]);
  const raw = Buffer.alloc(x.data.byteLength + 1);
  Buffer.from(x.data.buffer).copy(raw, 1);
  const y = decodeTensor({ dtype: 'FLOAT32', shape: [1, 2, 3], data: raw.subarray(1) });
  assert.deepEqual([...y.data], [...x.data]);
});

test('float16 round trip stays within half precision', () => {
  const x = t([1, 5, 8]);
  const msg = encodeTensor(x, 'float16');
  assert.equal(msg.dtype, 'FLOAT16');
  assert.equal(msg.data.byteLength, 40 * 2);
  const y = decodeTensor(msg, [1, 5, 8]);
  for (let i = 0; i < x.data.length; i++) assert.ok(Math.abs(y.data[i] - x.data[i]) <= Math.abs(x.data[i]) * 2 ** -11 + 1e-7);
});

test('numeric enum values are accepted', () => {
  const x = t([1, 1, 2]);
  const msg = { ...encodeTensor(x), dtype: 1 };
  assert.deepEqual([...decodeTensor(msg).data], [...x.data]);
  assert.equal(wireDtypeOf(2), 'float16');
  assert.equal(wireDtypeOf('DTYPE_UNSPECIFIED'), undefined);
  assert.equal(protoDtype(undefined), 'FLOAT32');
});

test('bad tensors are refused with a message naming the problem', () => {
  const good = encodeTensor(t([1, 2, 4]));
  rejects(() => decodeTensor(undefined, undefined, 'hidden'), /hidden: missing tensor/);
  rejects(() => decodeTensor({ ...good, dtype: 'INT64' }), /dtype must be FLOAT32 or FLOAT16, got INT64/);
  rejects(() => decodeTensor({ ...good, dtype: 'DTYPE_UNSPECIFIED' }), /got DTYPE_UNSPECIFIED/);
  rejects(() => decodeTensor({ ...good, dtype: 9 }), /got dtype 9/);
  rejects(() => decodeTensor(good, [1, null, 8]), /dimension 2 of shape \[1,2,4\] must be 8/);
  rejects(() => decodeTensor(good, [null, null]), /expected rank 2/);
  rejects(() => decodeTensor({ ...good, shape: [1, 0, 4] }), /dimension 1 .* positive integer/);
  rejects(() => decodeTensor({ ...good, data: good.data.subarray(0, 12) }), /needs 32 bytes, got 12/);
  rejects(() => decodeTensor({ ...good, shape: [65536, 65536, 4] }), /too large|needs/);
});
