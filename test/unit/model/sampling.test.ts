/** mulberry32, the seeded sampler, stop helpers and the streaming UTF-8 decoder. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createRng, mulberry32 } from '../../../shared/model/rng.ts';
import { argmax, findStop, sampleToken, stopHoldback } from '../../../shared/model/sampling.ts';
import { createStreamDecoder, decode, encode } from '../../../shared/model/tokenizer.ts';
import { fingerprint, fingerprintMatches, probeInput } from '../../../shared/model/probe.ts';

/** The document's mulberry32 with BigInt arithmetic. */
function refMulberry(seed: number, n: number): number[] {
  const M = 2n ** 32n;
  const imul = (a: bigint, b: bigint) => (a * b) % M;
  let a = BigInt(seed >>> 0);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5n) % M;
    let t = a;
    t = imul(t ^ (t >> 15n), t | 1n);
    t = t ^ ((t + imul(t ^ (t >> 7n), t | 61n)) % M);
    out.push(Number(t ^ (t >> 14n)) / 2 ** 32);
  }
  return out;
}

test('mulberry32 follows the definition', () => {
  for (const seed of [0, 1, 1000, 0xffffffff, 123456789]) {
    const u = mulberry32(seed);
    assert.deepEqual(Array.from({ length: 50 }, u), refMulberry(seed, 50), `seed ${seed}`);
  }
});

test('probe input and fingerprint follow the definition', () => {
  const ref = refMulberry(7, 12);
  assert.deepEqual(probeInput(7, 3, 4), Float32Array.from(ref, (u) => 2 * u - 1));
  const out = Float32Array.from([1, -2, 0.5, 4]);
  const fp = fingerprint(41, out);
  for (let k = 0; k < 8; k++) {
    const r = refMulberry(42 + k, 4);
    assert.equal(fp[k], out.reduce((s, v, i) => s + v * (2 * r[i] - 1), 0));
  }
  assert.ok(fingerprintMatches(fp.map((v) => v * (1 + 5e-4)), fp));
  assert.ok(!fingerprintMatches(fp.map((v, k) => (k === 3 ? v + 0.01 * Math.max(1, Math.abs(v)) : v)), fp));
});

const logits = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i * 1.7) * 2);

test('temperature 0 is argmax and draws nothing', () => {
  const rng = createRng(1);
  assert.equal(sampleToken(logits, { temperature: 0, topP: 1 }, rng), argmax(logits));
  assert.equal(rng.next(), mulberry32(1)());
  assert.equal(argmax(Float32Array.of(1, 3, 3)), 1);
});

test('seeded sampling is reproducible and follows the distribution', () => {
  const draw = (seed: number, n: number, topP = 1, temperature = 1) => {
    const rng = createRng(seed);
    return Array.from({ length: n }, () => sampleToken(logits, { temperature, topP }, rng));
  };
  assert.deepEqual(draw(9, 200), draw(9, 200));
  assert.notDeepEqual(draw(9, 200), draw(10, 200));
  const n = 20000, counts = new Array(16).fill(0);
  for (const t of draw(3, n)) counts[t]++;
  const z = logits.reduce((s, v) => s + Math.exp(v), 0);
  for (let i = 0; i < 16; i++) {
    const p = Math.exp(logits[i]) / z;
    assert.ok(Math.abs(counts[i] / n - p) < 4 * Math.sqrt(p * (1 - p) / n) + 1e-3, `token ${i}: ${counts[i] / n} vs ${p}`);
  }
  // A tiny nucleus keeps only the most likely token; low temperature concentrates on it.
  assert.ok(draw(4, 100, 1e-6).every((t) => t === argmax(logits)));
  // Low temperature concentrates on the argmax (logits 12 and 1 differ by 0.017: use a wider gap).
  const peaked = logits.map((v, i) => (i === 5 ? 3 : v));
  const rng = createRng(5);
  const cold = Array.from({ length: 500 }, () => sampleToken(peaked, { temperature: 0.05, topP: 1 }, rng)).filter((t) => t === 5).length;
  assert.ok(cold > 490, `cold sampling picks the argmax (${cold}/500)`);
});

test('stop sequences: first occurrence, and the hold-back of a possible prefix', () => {
  assert.deepEqual(findStop('abc\n\ndef', ['\n\n', 'c']), { type: 'stop', at: 2 });
  assert.deepEqual(findStop('abc', ['x', '']), { type: 'none' });
  assert.equal(stopHoldback('hello wor', ['world']), 3);
  assert.equal(stopHoldback('hello', ['world']), 0);
  assert.equal(stopHoldback('ab\n', ['\n\n', 'b\nx']), 2);
});

test('streaming decode never splits a character', () => {
  const text = 'aé✓😀z';
  const bytes = encode(text);
  assert.equal(bytes.length, 1 + 2 + 3 + 4 + 1);
  const d = createStreamDecoder();
  const chunks = Array.from(bytes, (b) => d.push(b));
  assert.deepEqual(chunks, ['a', '', 'é', '', '', '✓', '', '', '', '😀', 'z']);
  assert.equal(d.flush(), '');
  const d2 = createStreamDecoder();
  assert.equal(d2.push([0xf0, 0x9f]), '');
  assert.equal(d2.flush(), '\ufffd');
  assert.equal(decode(bytes), text);
});
