/** MonolithicRunner on a synth package: cache vs recompute, deterministic generation, stops. */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import type { MonolithicRunner } from '../../../shared/model/monolithic.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { argmax } from '../../../shared/model/sampling.ts';
import { encode } from '../../../shared/model/tokenizer.ts';
import type { ModelPackage } from '../../../shared/runtime-types.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

let pkg: ModelPackage;
let runner: MonolithicRunner;

beforeAll(async () => {
  pkg = await loadPackage(await synthFixture({ layers: 2, maxContext: 128 }));
  runner = await createMonolithicRunner({ pkg, path: pkg.manifest.router.paths[1] });
});
afterAll(() => runner.release());

test('prefill + decode steps give the logits of one full forward', async () => {
  const V = pkg.manifest.dims.vocab_size;
  const toks = Array.from(encode('def main():\n    return 42'));
  runner.reset();
  const full = (await runner.forward(toks)).data.slice();
  assert.equal(full.length, toks.length * V);
  const first = await runner.prefill(toks.slice(0, 10));
  assert.ok(first.every((v, i) => Math.abs(v - full[9 * V + i]) < 1e-4));
  for (let t = 10; t < toks.length; t++) {
    const l = await runner.decodeStep(toks[t]);
    let worst = 0;
    for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(l[i] - full[t * V + i]));
    assert.ok(worst < 1e-4, `position ${t}: ${worst}`);
  }
  assert.equal(runner.position, toks.length);
});

test('greedy generation is the argmax chain, and repeatable', async () => {
  const a = await runner.generate('The river ', { maxTokens: 12, temperature: 0 });
  const b = await runner.generate('The river ', { maxTokens: 12, temperature: 0 });
  assert.deepEqual(a, b);
  assert.equal(a.tokens.length, 12);
  assert.equal(a.finishReason, 'length');
  // Recompute by hand: each token is the argmax after the prompt and the tokens before it.
  const ctx = Array.from(encode('The river '));
  for (const tok of a.tokens) {
    runner.reset();
    const l = (await runner.forward(ctx)).data;
    assert.equal(tok, argmax(l, l.length - 256, 256));
    ctx.push(tok);
  }
});

test('sampled generation is deterministic for a seed and differs across seeds', async () => {
  const opts = { maxTokens: 24, temperature: 1, topP: 0.95 };
  const a = await runner.generate('hello', { ...opts, seed: 7 });
  const b = await runner.generate('hello', { ...opts, seed: 7 });
  const c = await runner.generate('hello', { ...opts, seed: 8 });
  assert.deepEqual(a.tokens, b.tokens);
  assert.equal(a.text, b.text);
  assert.notDeepEqual(a.tokens, c.tokens);
});

test('a stop string ends generation before it; streamed chunks add up to the text', async () => {
  const free = await runner.generate('x', { maxTokens: 20, temperature: 1, seed: 3 });
  const bytes = free.tokens.slice(4, 6);
  const stop = new TextDecoder().decode(Uint8Array.from(bytes));
  const chunks: string[] = [];
  const r = await runner.generate('x', { maxTokens: 20, temperature: 1, seed: 3, stop: [stop], onText: (c) => chunks.push(c) });
  assert.equal(r.finishReason, 'stop');
  assert.ok(!r.text.includes(stop));
  assert.ok(free.text.startsWith(r.text));
  assert.equal(chunks.join(''), r.text);
  const s2: string[] = [];
  const r2 = await runner.generate('x', { maxTokens: 20, temperature: 1, seed: 3, onText: (c) => s2.push(c) });
  assert.equal(s2.join(''), r2.text);
});

test('generation stops at max_context', async () => {
  const r = await runner.generate('y'.repeat(120), { maxTokens: 50, temperature: 0 });
  assert.equal(r.finishReason, 'length');
  assert.equal(r.tokens.length, 9);
  await assert.rejects(runner.prefill(new Array(129).fill(65)), /exceeds max_context 128/);
});
