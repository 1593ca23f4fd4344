/**
 * The official openai SDK against a real local swarm (`swarmpath swarm`: DHT node, host processes with
 * 2 replicas of each expert, router) on a small synthetic model: completions with n = 2, echo and
 * logprobs (checked against the monolithic runner's logits), chat with logprobs/top_logprobs, a
 * streamed chat with n = 2 and stream_options.include_usage, the same seed giving the same text, and a
 * 400 the SDK surfaces with the field's name. One swarm for the whole file.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { loadPackage } from '../../../shared/model/package.ts';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { encode } from '../../../shared/model/tokenizer.ts';
import { logSoftmax } from '../../../router/sampling/logprobs.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { startLocalSwarm, type LocalSwarm } from '../../helpers/local-swarm.ts';

let swarm: LocalSwarm;
let modelDir: string;
let client: OpenAI;

beforeAll(async () => {
  modelDir = await synthFixture({});
  swarm = await startLocalSwarm({ model: modelDir, replicas: 2, spare: 0, hostArgs: ['--no-rebalance'] });
  client = new OpenAI({ baseURL: `${swarm.http}/v1`, apiKey: 'x', maxRetries: 0, timeout: 120_000 });
});

afterAll(async () => {
  if (!swarm) return;
  assert.equal(await swarm.stop(), 0, 'the swarm exits 0 on SIGTERM');
});

/** A token id from its logprobs string (the character, or `bytes:\xNN`). */
const tokenId = (s: string) => (s.startsWith('bytes:\\x') ? parseInt(s.slice(8), 16) : s.charCodeAt(0));

describe('the openai SDK against a swarm', () => {
  it('completions.create: n = 2, echo and logprobs in OpenAI\'s shape, the model\'s own log-probabilities', async () => {
    const prompt = 'The swarm answers';
    const params = { model: 'synth', prompt, max_tokens: 8, n: 2, echo: true, logprobs: 2, seed: 31, temperature: 0.9 } as const;
    const r = await client.completions.create(params);
    assert.equal(r.object, 'text_completion');
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    assert.deepEqual(r.usage, { prompt_tokens: prompt.length, completion_tokens: 16, total_tokens: prompt.length + 16 });
    const pkg = await loadPackage(modelDir);
    const mono = await createMonolithicRunner({ pkg, path: choosePath(pkg.manifest.router, encode(prompt)).path });
    try {
      for (const c of r.choices) {
        assert.equal(c.finish_reason, 'length');
        assert.ok(c.text.startsWith(prompt), c.text);
        const lp = c.logprobs;
        assert.ok(lp?.tokens && lp.token_logprobs && lp.top_logprobs && lp.text_offset);
        assert.equal(lp.tokens.length, prompt.length + 8);
        assert.equal(lp.token_logprobs[0], null, 'the first prompt token has no log-probability');
        assert.equal(lp.top_logprobs[0], null);
        assert.deepEqual(lp.text_offset.slice(0, prompt.length), [...prompt].map((_, i) => i));
        const offsets = lp.text_offset;
        assert.ok(offsets.every((o, i) => i === 0 || o >= offsets[i - 1]));
        // Every token's log-probability is log softmax of the logits before it, as the monolithic runner computes them.
        const ids = lp.tokens.map(tokenId);
        mono.reset();
        const logits = await mono.forward(ids);
        const V = pkg.manifest.dims.vocab_size;
        for (let i = 1; i < ids.length; i++) {
          const want = logSoftmax(logits.data.subarray((i - 1) * V, i * V))[ids[i]];
          assert.ok(Math.abs((lp.token_logprobs[i] as number) - want) < 1e-3, `token ${i}: ${lp.token_logprobs[i]} vs ${want}`);
          const top = lp.top_logprobs[i] as Record<string, number>;
          assert.ok(Object.keys(top).length >= 2 && Object.keys(top).length <= 3 && lp.tokens[i] in top);
        }
      }
    } finally {
      await mono.release();
    }
    assert.notEqual(r.choices[0].text, r.choices[1].text, 'two sessions, two seeds');
    const again = await client.completions.create(params);
    assert.deepEqual(again.choices.map((c) => c.text), r.choices.map((c) => c.text), 'the same seed gives the same texts');
    const one = await client.completions.create({ ...params, n: 1, echo: false, logprobs: null });
    assert.equal(prompt + one.choices[0].text, r.choices[0].text, 'choice 0 is the single-choice answer');
  });

  it('chat.completions.create: logprobs with top_logprobs', async () => {
    const r = await client.chat.completions.create({
      model: 'synth', messages: [{ role: 'user', content: 'Say something' }], max_tokens: 12, seed: 5, logprobs: true, top_logprobs: 3,
    });
    const c = r.choices[0];
    assert.equal(c.message.role, 'assistant');
    const content = c.logprobs?.content;
    assert.ok(content && content.length > 0);
    if (c.finish_reason === 'length') assert.equal(content.length, 12);
    assert.equal(Buffer.from(content.flatMap((e) => e.bytes ?? [])).toString('utf8').startsWith(c.message.content ?? ''), true);
    for (const e of content) {
      assert.ok(e.logprob <= 0 && e.bytes?.length === 1 && e.top_logprobs.length === 3);
      assert.ok(e.top_logprobs.every((t, i) => i === 0 || t.logprob <= e.top_logprobs[i - 1].logprob));
      assert.ok(e.logprob <= e.top_logprobs[0].logprob);
    }
  });

  it('a streamed chat with n = 2 and include_usage: interleaved choices, a last usage chunk, the texts of the plain answer', async () => {
    const params = { model: 'synth', messages: [{ role: 'user' as const, content: 'Tell a story' }], max_tokens: 24, seed: 77, n: 2 };
    const plain = await client.chat.completions.create(params);
    const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    const texts = ['', ''];
    const order: number[] = [];
    let usageChunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.choices.length === 0) { usageChunks++; usage = chunk.usage; continue; }
      assert.equal(chunk.usage, null);
      for (const ch of chunk.choices) {
        order.push(ch.index);
        texts[ch.index] += ch.delta.content ?? '';
      }
    }
    assert.equal(usageChunks, 1);
    assert.deepEqual(usage, plain.usage);
    assert.deepEqual(texts, plain.choices.map((c) => c.message.content));
    assert.ok(order.indexOf(1) < order.lastIndexOf(0), `chunks interleave: ${order.join('')}`);
  });

  it('bad input: the SDK raises a 400 that names the field', async () => {
    await assert.rejects(client.completions.create({ model: 'synth', prompt: 'x', n: 9 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'n');
    await assert.rejects(client.chat.completions.create({
      model: 'synth', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' },
    }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'response_format.type');
  });
});
