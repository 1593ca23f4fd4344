/** sampleToken over masked logits (-Infinity: a ban, top_k, min_p): never drawn, one draw per token. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRng } from '../../../shared/model/rng.ts';
import type { Rng } from '../../../shared/model/rng.ts';
import { sampleToken } from '../../../shared/model/sampling.ts';

const masked = fc.array(fc.oneof(fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), fc.constant(-Infinity)), { minLength: 1, maxLength: 40 })
  .filter((a) => a.some((x) => x > -Infinity))
  .map((a) => Float32Array.from(a));

test('a masked token is never drawn, with or without top_p, at any temperature', () => {
  fc.assert(fc.property(masked, fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.double({ min: 0, max: 2, noNaN: true }), fc.double({ min: 0.01, max: 1, noNaN: true }), (l, seed, temperature, topP) => {
    const rng = createRng(seed);
    for (let i = 0; i < 10; i++) if (l[sampleToken(l, { temperature, topP }, rng)] === -Infinity) return false;
    return true;
  }), { numRuns: 400 });
});

test('a draw that rounding carries past the running sum lands on the last token with probability, not a masked one', () => {
  // With these logits and u = 1 - 2^-53, u * total minus every probability in turn never goes below 0.
  const top: Rng = { next: () => 1 - 2 ** -53, normal: () => 0, int: () => 0 };
  const l = Float32Array.of(-2.5627050399780273, -3.5158472061157227, 3.211801290512085, -1.9205111265182495, 3.9244070053100586, -Infinity);
  assert.equal(sampleToken(l, { temperature: 1, topP: 1 }, top), 4);
});

test('masks do not change how many numbers a draw takes: exactly one per token', () => {
  let draws = 0;
  const base = createRng(3);
  const rng: Rng = { ...base, next: () => { draws++; return base.next(); } };
  const l = Float32Array.of(1, -Infinity, 2, -Infinity);
  for (let i = 0; i < 25; i++) sampleToken(l, { temperature: 0.7, topP: 0.9 }, rng);
  assert.equal(draws, 25);
});
