/**
 * Log-probabilities: the raw log-softmax and its top alternatives (router/sampling/logprobs.ts), the
 * sampler reporting them from the raw logits whatever the processing, the trail that cuts them to the
 * emitted text (logprob-trail.ts), and OpenAI's two shapes (router/http/logprobs-format.ts).
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { logSoftmax, tokenLogprob, topLogprobs } from '../../../router/sampling/logprobs.ts';
import { LogprobTrail, promptTrail } from '../../../router/sampling/logprob-trail.ts';
import { NO_PROCESSING } from '../../../router/sampling/logit-processors.ts';
import { createTokenSampler } from '../../../router/sampling/token-sampler.ts';
import { chatLogprobs, completionLogprobs, tokenString } from '../../../router/http/logprobs-format.ts';
import { StopMatcher } from '../../../router/stop-matcher.ts';
import { createRng } from '../../../shared/model/rng.ts';
import { sampleToken } from '../../../shared/model/sampling.ts';
import { createStreamDecoder, encode } from '../../../shared/model/tokenizer.ts';

const logitsArb = fc.array(fc.float({ min: -30, max: 30, noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 64 })
  .map((a) => Float32Array.from(a));

describe('log-softmax and top alternatives', () => {
  it('matches the definition on a small case', () => {
    const lp = logSoftmax(Float32Array.of(0, Math.log(3)));
    assert.ok(Math.abs(lp[0] - Math.log(0.25)) < 1e-7 && Math.abs(lp[1] - Math.log(0.75)) < 1e-7);
    assert.deepEqual([...logSoftmax([-Infinity, -Infinity])], [-Infinity, -Infinity]);
  });

  it('properties: every logprob <= 0, they sum to 1 in probability, shifting the logits changes nothing', () => {
    fc.assert(fc.property(logitsArb, fc.float({ min: -50, max: 50, noNaN: true }), (l, c) => {
      const lp = logSoftmax(l);
      const mass = lp.reduce((s, x) => s + Math.exp(x), 0);
      const moved = logSoftmax(Float64Array.from(l, (x) => x + c));
      return lp.every((x) => x <= 0) && Math.abs(mass - 1) < 1e-9 && lp.every((x, i) => Math.abs(x - moved[i]) < 1e-6);
    }), { numRuns: 300 });
  });

  it('top alternatives: the k largest, most likely first, lower id first on ties', () => {
    const lp = Float64Array.of(-3, -1, -2, -1, -5);
    assert.deepEqual(topLogprobs(lp, 3).map((t) => t.token), [1, 3, 2]);
    assert.deepEqual(topLogprobs(lp, 0), []);
    assert.equal(topLogprobs(lp, 10).length, 5);
    fc.assert(fc.property(logitsArb, fc.integer({ min: 0, max: 20 }), (l, k) => {
      const all = logSoftmax(l);
      const top = topLogprobs(all, k);
      const sorted = [...all].sort((a, b) => b - a);
      return top.length === Math.min(k, l.length) && top.every((t, i) => t.logprob === sorted[i] && all[t.token] === t.logprob);
    }), { numRuns: 300 });
  });
});

describe('the sampler reports raw log-probabilities', () => {
  it('of the model\'s logits, not of the processed ones, for the token it drew', () => {
    fc.assert(fc.property(logitsArb, fc.integer({ min: 0, max: 1e6 }), (raw, seed) => {
      const rng = createRng(seed);
      const next = createTokenSampler({
        processing: { ...NO_PROCESSING, topK: 1, logitBias: new Map([[0, 7]]), repetitionPenalty: 1.7 },
        temperature: 0.5, prompt: [0, 1], vocabSize: raw.length, topLogprobs: 3,
      }, (l) => sampleToken(l, { temperature: 0.5, topP: 1 }, rng));
      const s = next(raw);
      const want = tokenLogprob(raw, s.token, 3);
      return s.logprob !== undefined && s.logprob.logprob === want.logprob && s.logprob.logprob <= 0 &&
        JSON.stringify(s.logprob.top) === JSON.stringify(want.top);
    }), { numRuns: 200 });
    const quiet = createTokenSampler({ processing: NO_PROCESSING, temperature: 0, prompt: [], vocabSize: 3 }, () => 1);
    assert.deepEqual(quiet(Float32Array.of(1, 2, 3)), { token: 1 });
  });
});

describe('LogprobTrail', () => {
  /** Runs tokens through decoder, trail and stop matcher as generation.ts does. */
  function run(tokens: number[], stops: string[]) {
    const dec = createStreamDecoder();
    const stopper = new StopMatcher(stops);
    const trail = new LogprobTrail();
    let text = '';
    const pieces: { text: string; tokens: number[] }[] = [];
    for (let i = 0; i < tokens.length; i++) {
      trail.add(tokens[i], -i, []);
      const last = i === tokens.length - 1;
      const decoded = dec.push(tokens[i]) + (last ? dec.flush() : '');
      trail.advance(decoded);
      const pushed = stopper.push(decoded);
      const piece = pushed.type === 'stop' ? pushed.text : pushed.text + (last ? stopper.flush() : '');
      if (piece !== '') { text += piece; pieces.push({ text: piece, tokens: trail.take(text.length).map((e) => e.token) }); }
      if (pushed.type === 'stop') break;
    }
    return { text, pieces, taken: trail.taken };
  }

  it('hands out a multi-byte character\'s tokens with the character, at its offset in code points', () => {
    const tokens = [...encode('a€😀b')];
    const r = run(tokens, []);
    assert.equal(r.text, 'a€😀b');
    assert.deepEqual(r.taken.map((e) => e.token), tokens);
    assert.deepEqual(r.taken.map((e) => e.offset), [0, 1, 1, 1, 2, 2, 2, 2, 3]);
    assert.deepEqual(r.pieces.map((p) => p.tokens.length), [1, 3, 4, 1]);
  });

  it('leaves out the tokens of a cut stop string and hands out held-back text\'s tokens with it', () => {
    const r = run([...encode('hello END more')], ['END']);
    assert.equal(r.text, 'hello ');
    assert.equal(r.taken.length, 6);
    assert.deepEqual(r.pieces.flatMap((p) => p.tokens), [...encode('hello ')]);
    const held = run([...encode('aEb')], ['EN']);
    assert.equal(held.text, 'aEb');
    assert.deepEqual(held.pieces.map((p) => [p.text, p.tokens.length]), [['a', 1], ['Eb', 2]]);
  });

  it('promptTrail: the first prompt token has no log-probability, the others the given ones', () => {
    const dec = createStreamDecoder();
    const e = promptTrail(encode('hé!'), [{ logprob: -1, top: [] }, { logprob: -2, top: [] }, { logprob: -3, top: [{ token: 5, logprob: -0.1 }] }], (t) => dec.push(t));
    assert.deepEqual(e.map((x) => [x.token, x.logprob, x.offset]), [[104, null, 0], [0xc3, -1, 1], [0xa9, -2, 1], [33, -3, 2]]);
    assert.equal(e[0].top, null);
  });
});

describe('OpenAI shapes', () => {
  const entries = [
    { token: 72, logprob: null, top: null, offset: 0 },
    { token: 0xe2, logprob: -0.5, top: [{ token: 0xe2, logprob: -0.5 }, { token: 10, logprob: -2 }], offset: 1 },
    { token: 105, logprob: -3, top: [{ token: 10, logprob: -0.1 }], offset: 2 },
  ];

  it('token strings: ASCII as is, a partial byte in OpenAI\'s bytes: notation', () => {
    assert.equal(tokenString(65), 'A');
    assert.equal(tokenString(10), '\n');
    assert.equal(tokenString(0xe2), 'bytes:\\xe2');
    assert.equal(new Set(Array.from({ length: 256 }, (_, i) => tokenString(i))).size, 256);
  });

  it('completions: parallel lists; top dicts hold the alternatives and the chosen token', () => {
    assert.deepEqual(completionLogprobs(entries), {
      tokens: ['H', 'bytes:\\xe2', 'i'], token_logprobs: [null, -0.5, -3], text_offset: [0, 1, 2],
      top_logprobs: [null, { 'bytes:\\xe2': -0.5, '\n': -2 }, { '\n': -0.1, i: -3 }],
    });
  });

  it('chat: content entries with bytes and exactly the top alternatives', () => {
    assert.deepEqual(chatLogprobs(entries.slice(1)), {
      refusal: null,
      content: [
        { token: 'bytes:\\xe2', logprob: -0.5, bytes: [0xe2], top_logprobs: [{ token: 'bytes:\\xe2', logprob: -0.5, bytes: [0xe2] }, { token: '\n', logprob: -2, bytes: [10] }] },
        { token: 'i', logprob: -3, bytes: [105], top_logprobs: [{ token: '\n', logprob: -0.1, bytes: [10] }] },
      ],
    });
  });
});
