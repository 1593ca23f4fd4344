import assert from 'node:assert/strict';
import { test } from 'vitest';
import { f16BitsToF32, f32BitsToF16, float16ToFloat32, float32ToFloat16, roundToF16 } from '../../../shared/grpc/float16.ts';

const f16round = (Math as unknown as { f16round?: (x: number) => number }).f16round;

test('special values convert exactly', () => {
  const src = new Float32Array([0, -0, 1, -2, 65504, 65520, -70000, Infinity, -Infinity, NaN, 2 ** -24, 2 ** -25, 2 ** -26, 6.1035156e-5]);
  const back = float16ToFloat32(float32ToFloat16(src));
  assert.equal(back[0], 0);
  assert.ok(Object.is(back[1], -0));
  assert.equal(back[2], 1);
  assert.equal(back[3], -2);
  assert.equal(back[4], 65504);
  assert.equal(back[5], Infinity, '65520 rounds up to Infinity');
  assert.equal(back[6], -Infinity);
  assert.equal(back[7], Infinity);
  assert.equal(back[8], -Infinity);
  assert.ok(Number.isNaN(back[9]));
  assert.equal(back[10], 2 ** -24, 'smallest subnormal');
  assert.equal(back[11], 0, 'exactly half the smallest subnormal rounds to even (0)');
  assert.equal(back[12], 0);
  assert.equal(back[13], 2 ** -14, 'smallest normal');
});

test('rounding is to nearest, ties to even', () => {
  // 1 + 2^-11 is exactly between 1 and 1 + 2^-10: ties to even (1).
  assert.equal(roundToF16(1 + 2 ** -11), 1);
  // 1 + 3 * 2^-11 is between 1 + 2^-10 (odd) and 1 + 2^-9 (even): rounds up.
  assert.equal(roundToF16(1 + 3 * 2 ** -11), 1 + 2 ** -9);
  assert.equal(roundToF16(1 + 2 ** -11 + 2 ** -20), 1 + 2 ** -10);
});

// Math.f16round is in Node 24, not in Node 22 (which swarmpath also supports).
test.skipIf(!f16round)('agrees with Math.f16round on random and edge values', () => {
  let seed = 12345;
  const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
  const buf = new Float32Array(1);
  const bits = new Uint32Array(buf.buffer);
  for (let i = 0; i < 200_000; i++) {
    bits[0] = (rnd() * 2 ** 32) >>> 0;
    const x = buf[0];
    const want = f16round!(x);
    const got = f16BitsToF32(f32BitsToF16(bits[0]));
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got));
    else assert.ok(Object.is(got, want), `bits ${bits[0].toString(16)}: x=${x} want ${want} got ${got}`);
  }
});

test('every half decodes and re-encodes to itself', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = float16ToFloat32(all);
  const again = float32ToFloat16(f);
  for (let h = 0; h < 65536; h++) {
    const isNaN = ((h >>> 10) & 0x1f) === 0x1f && (h & 0x3ff) !== 0;
    if (!isNaN) assert.equal(again[h], h, `half ${h.toString(16)}`);
  }
});

test('relative error of normal values is at most 2^-11', () => {
  const src = new Float32Array(10_000).map((_, i) => Math.sin(i) * 100 + 1e-3 * i);
  const back = float16ToFloat32(float32ToFloat16(src));
  for (let i = 0; i < src.length; i++) {
    if (Math.abs(src[i]) < 2 ** -14) continue;
    assert.ok(Math.abs(back[i] - src[i]) <= Math.abs(src[i]) * 2 ** -11, `${src[i]} -> ${back[i]}`);
  }
});
