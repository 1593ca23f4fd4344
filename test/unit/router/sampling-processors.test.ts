/**
 * The router's logit processing (router/sampling/logit-processors.ts) and the per-choice sampler
 * (token-sampler.ts) over the real draw (shared/model/sampling.ts sampleToken + createRng): each
 * transform exactly, their fixed order, and properties over random logits.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyFrequencyPresence, applyLogitBias, applyMinP, applyRepetitionPenalty, applyTopK, isIdentity, NO_PROCESSING,
  processLogits, TokenHistory,
} from '../../../router/sampling/logit-processors.ts';
import type { LogitProcessing } from '../../../router/sampling/logit-processors.ts';
import { createTokenSampler } from '../../../router/sampling/token-sampler.ts';
import { createRng } from '../../../shared/model/rng.ts';
import type { Rng } from '../../../shared/model/rng.ts';
import { argmax, sampleToken } from '../../../shared/model/sampling.ts';

const f32 = (...v: number[]) => Float32Array.from(v);
const proc = (over: Partial<LogitProcessing>): LogitProcessing => ({ ...NO_PROCESSING, ...over });
const logitsArb = (V = 32) => fc.array(fc.float({ min: -20, max: 20, noNaN: true, noDefaultInfinity: true }), { minLength: V, maxLength: V })
  .map((a) => Float32Array.from(a));

/** A sampler over the real draw; `rng` counts its draws. */
function sampler(p: LogitProcessing, temperature: number, seed: number, prompt: number[] = [], V = 32) {
  const rng = createRng(seed);
  let draws = 0;
  const counted: Rng = { ...rng, next: () => { draws++; return rng.next(); } };
  const next = createTokenSampler({ processing: p, temperature, prompt, vocabSize: V },
    (l) => sampleToken(l, { temperature, topP: 1 }, counted));
  return { next, draws: () => draws };
}

describe('each transform', () => {
  it('logit_bias adds, -100 bans, and ids outside the vocabulary are left alone', () => {
    const l = f32(1, 2, 3, 4);
    applyLogitBias(l, new Map([[0, 2.5], [2, -100], [3, -1], [9, 5]]));
    assert.deepEqual([...l], [3.5, 2, -Infinity, 3]);
  });

  it('repetition_penalty divides positive and multiplies negative logits of seen tokens only', () => {
    const h = new TokenHistory(5, [0, 1]);
    h.push(3);
    const l = f32(2, -2, 2, -1, 4);
    applyRepetitionPenalty(l, h.seen, 2);
    assert.deepEqual([...l], [1, -4, 2, -2, 4]);
    const same = f32(2, -2);
    applyRepetitionPenalty(same, new Uint8Array([1, 1]), 1);
    assert.deepEqual([...same], [2, -2]);
  });

  it('frequency and presence penalties follow generated counts, not the prompt', () => {
    const h = new TokenHistory(4, [2]);
    for (const t of [0, 0, 0, 1]) h.push(t);
    const l = f32(0, 0, 0, 0);
    applyFrequencyPresence(l, h.counts, 0.5, 1);
    assert.deepEqual([...l], [-2.5, -1.5, 0, 0]);
    const neg = f32(0, 0);
    applyFrequencyPresence(neg, Uint32Array.of(2, 0), -1, -0.5);
    assert.deepEqual([...neg], [2.5, 0]);
  });

  it('min_p keeps the tokens at least min_p times as likely as the best, at the temperature', () => {
    const T = 0.7;
    const raw = f32(0, -0.5, -1, -3, 0.2);
    const probs = [...raw].map((x) => Math.exp(x / T));
    const best = Math.max(...probs);
    for (const minP of [0.05, 0.3, 0.6, 1]) {
      const l = Float32Array.from(raw);
      applyMinP(l, minP, T);
      [...raw].forEach((x, i) => assert.equal(l[i] === x, probs[i] >= minP * best * (1 - 1e-6), `min_p ${minP} token ${i}`));
    }
    const greedy = Float32Array.from(raw);
    applyMinP(greedy, 0.9, 0);
    assert.deepEqual(greedy, raw, 'min_p cannot change an argmax: skipped when greedy');
  });

  it('top_k keeps the k largest, the lower id first on ties', () => {
    const l = f32(1, 5, 3, 5, -2);
    applyTopK(l, 2);
    assert.deepEqual([...l], [-Infinity, 5, -Infinity, 5, -Infinity]);
    const t = f32(1, 3, 3, 3);
    applyTopK(t, 2);
    assert.deepEqual([...t], [-Infinity, 3, 3, -Infinity]);
    const all = f32(1, 2);
    applyTopK(all, 0);
    applyTopK(all, 5);
    assert.deepEqual([...all], [1, 2]);
  });
});

describe('processLogits', () => {
  it('returns the raw logits untouched for the identity and never changes them otherwise', () => {
    const raw = f32(1, 2, 3);
    const h = new TokenHistory(3, [0]);
    assert.ok(isIdentity(NO_PROCESSING));
    assert.equal(processLogits(raw, h, NO_PROCESSING, 1), raw);
    const out = processLogits(raw, h, proc({ topK: 1, repetitionPenalty: 1.5 }), 1);
    assert.notEqual(out, raw);
    assert.deepEqual([...raw], [1, 2, 3]);
  });

  it('applies bias, then repetition, then frequency/presence, then min_p, then top_k', () => {
    const h = new TokenHistory(4, [0]);
    h.push(1);
    // token 0: (1 + 1) / 2 = 1 (bias first; repetition first would give 1 / 2 + 1 = 1.5)
    // token 1: 4 / 2 - (1 + 1) = 0 (repetition before the penalties; the other order: (4 - 2) / 2 = 1)
    // top_k (last) sees the penalised logits: it keeps 1, 0.5 and token 1's 0, and drops -3.
    const out = processLogits(f32(1, 4, 0.5, -3), h, proc({ logitBias: new Map([[0, 1]]), repetitionPenalty: 2, frequencyPenalty: 1, presencePenalty: 1, topK: 3 }), 1);
    assert.deepEqual([...out], [1, 0, 0.5, -Infinity]);
    // min_p sees the penalised logits too: token 1 goes from 4 to 0, so nothing falls below half the
    // best probability (on the raw logits, tokens 0 and 2 would).
    const h2 = new TokenHistory(3, []);
    h2.push(1);
    const mp = processLogits(f32(0, 4, -0.5), h2, proc({ frequencyPenalty: 2, presencePenalty: 2, minP: 0.5 }), 1);
    assert.deepEqual([...mp], [0, 0, -0.5]);
    const rawOnly = f32(0, 4, -0.5);
    applyMinP(rawOnly, 0.5, 1);
    assert.deepEqual([...rawOnly], [-Infinity, 4, -Infinity]);
  });
});

describe('properties of the sampler', () => {
  it('top_k = 1 is greedy at any temperature', () => {
    fc.assert(fc.property(logitsArb(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.double({ min: 0.05, max: 2, noNaN: true }), (raw, seed, T) => {
      const s = sampler(proc({ topK: 1 }), T, seed);
      return s.next(raw).token === argmax(raw);
    }), { numRuns: 300 });
  });

  it('a bias of -100 never picks the token, even when it is by far the most likely', () => {
    fc.assert(fc.property(logitsArb(), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.double({ min: 0, max: 2, noNaN: true }), (raw, banned, seed, T) => {
      raw[banned] = 1e4;
      const s = sampler(proc({ logitBias: new Map([[banned, -100]]) }), T, seed);
      for (let i = 0; i < 20; i++) if (s.next(raw).token === banned) return false;
      return true;
    }), { numRuns: 200 });
  });

  it('draws exactly one rng number per token when temperature > 0, none when greedy, whatever the processing', () => {
    const processing = fc.record({
      logitBias: fc.constant(new Map([[3, -100], [4, 5]])), repetitionPenalty: fc.double({ min: 0.5, max: 2, noNaN: true }),
      frequencyPenalty: fc.double({ min: -2, max: 2, noNaN: true }), presencePenalty: fc.double({ min: -2, max: 2, noNaN: true }),
      topK: fc.integer({ min: 0, max: 40 }), minP: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(fc.property(logitsArb(), processing, fc.integer({ min: 1, max: 30 }), fc.boolean(), (raw, p, steps, greedy) => {
      const s = sampler(p, greedy ? 0 : 0.9, 5, [1, 2]);
      for (let i = 0; i < steps; i++) s.next(raw);
      return s.draws() === (greedy ? 0 : steps);
    }), { numRuns: 200 });
  });

  it('without processing, the sampler gives sampleToken\'s tokens (seeded streams unchanged)', () => {
    fc.assert(fc.property(logitsArb(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (raw, seed) => {
      const s = sampler(NO_PROCESSING, 0.8, seed);
      const rng = createRng(seed);
      for (let i = 0; i < 10; i++) if (s.next(raw).token !== sampleToken(raw, { temperature: 0.8, topP: 1 }, rng)) return false;
      return true;
    }), { numRuns: 100 });
  });

  it('top_k and min_p only pick tokens they keep', () => {
    fc.assert(fc.property(logitsArb(), fc.integer({ min: 1, max: 8 }), fc.double({ min: 0.01, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1e6 }), (raw, k, minP, seed) => {
      const T = 1;
      const t1 = sampler(proc({ topK: k }), T, seed).next(raw).token;
      const rank = [...raw].filter((x, i) => x > raw[t1] || (x === raw[t1] && i < t1)).length;
      const t2 = sampler(proc({ minP }), T, seed).next(raw).token;
      const best = Math.max(...raw);
      return rank < k && Math.exp(raw[t2] - best) >= minP * (1 - 1e-5);
    }), { numRuns: 200 });
  });

  it('a presence penalty makes a token that was generated less likely to come again', () => {
    // Two equal tokens; with a strong penalty the second draw avoids the first's token far more often.
    const raw = f32(0, 0, -50, -50);
    let repeatsPenalised = 0;
    let repeatsFree = 0;
    for (let seed = 0; seed < 200; seed++) {
      const a = sampler(proc({ presencePenalty: 2 }), 1, seed, [], 4);
      const first = a.next(raw).token;
      if (a.next(raw).token === first) repeatsPenalised++;
      const b = sampler(NO_PROCESSING, 1, seed, [], 4);
      const firstB = b.next(raw).token;
      if (b.next(raw).token === firstB) repeatsFree++;
    }
    assert.ok(repeatsPenalised < 60 && repeatsFree > 70, `penalised ${repeatsPenalised}, free ${repeatsFree} of 200`);
  });
});
