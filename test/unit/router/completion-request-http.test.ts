/**
 * Completion requests with the sampling-parity fields through the whole router HTTP stack (in-memory
 * sockets, the real generator and replica pool, fake hosts and the toy runtime): n choices and their
 * seeds, streaming with interleaved choices and stream_options.include_usage, echo, logprobs of
 * both shapes against an independent computation, logit_bias; and runChoices' failure rule.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { SwarmpathError } from '../../../shared/errors.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import { createMetricsRegistry, routerMetrics } from '../../../shared/telemetry/metrics.ts';
import { createGenerator } from '../../../router/generation.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createRouterApi } from '../../../router/http/server.ts';
import { choiceSeed, runChoices } from '../../../router/http/choices.ts';
import { logSoftmax } from '../../../router/sampling/logprobs.ts';
import { FakeDiscovery, FakeHost, referenceText, toyExpert, toyRuntime } from './fakes.ts';
import { inject } from './inject.ts';

function api() {
  const runtime = toyRuntime();
  const fleet = [
    new FakeHost('a0', ['L0.0', 'L0.1']), new FakeHost('a1', ['L0.0', 'L0.1']),
    new FakeHost('b0', ['L1.0', 'L1.1']), new FakeHost('b1', ['L1.0', 'L1.1']),
  ];
  const discovery = new FakeDiscovery(fleet);
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: 100, pollMs: 20, cacheTtlMs: 50 },
    { discovery, balancer: new ReplicaBalancer(), connect: discovery.connect, log: silentLogger });
  const generator = createGenerator({}, { runtime, pool, log: silentLogger });
  const reg = createMetricsRegistry();
  const a = createRouterApi({}, {
    runtime, generator, pool, metrics: routerMetrics(reg), metricsText: () => reg.text(), log: silentLogger, randomSeed: () => 99,
  });
  const post = async (path: string, body: unknown) => {
    const r = await inject(a.server, { path, body });
    assert.equal(r.status, 200, r.text);
    return r;
  };
  return { runtime, server: a.server, post };
}

/** Log-softmax of the toy model's logits after each prompt position, computed along the path in one place. */
async function promptLogprobs(runtime: ReturnType<typeof toyRuntime>, prompt: string, path: string[]): Promise<Float64Array[]> {
  const hist = path.map(() => [] as Float32Array[]);
  const tokens = runtime.encode(prompt);
  const h: F32 = path.reduce((x, id, s) => toyExpert(id, hist[s], x), await runtime.embed(tokens, 0));
  const out: Float64Array[] = [];
  for (let t = 0; t < tokens.length; t++) out.push(logSoftmax(await runtime.lastLogits({ data: h.data.slice(t * 4, t * 4 + 4), dims: [1, 1, 4] })));
  return out;
}

const chunksOf = (events: string[]) => {
  assert.equal(events.at(-1), '[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e));
};

describe('n choices', () => {
  it('runs n sessions, choice i with choiceSeed(seed, i), usage counting the prompt once', async () => {
    const { runtime, post } = api();
    const body = { prompt: 'hello', max_tokens: 15, seed: 21, temperature: 1, n: 3 };
    const b = (await post('/v1/completions', body)).json();
    assert.deepEqual(b.choices.map((c: { index: number }) => c.index), [0, 1, 2]);
    for (let i = 0; i < 3; i++) {
      assert.equal(b.choices[i].text, await referenceText(runtime, 'hello', ['L0.0', 'L1.0'], 15, choiceSeed(21, i), { temperature: 1, topP: 1 }));
    }
    assert.equal(new Set(b.choices.map((c: { text: string }) => c.text)).size, 3, 'the choices differ');
    assert.deepEqual(b.usage, { prompt_tokens: 5, completion_tokens: 45, total_tokens: 50 });
    assert.deepEqual(b.swarmpath.choices.map((c: { seed: number }) => c.seed), [21, choiceSeed(21, 1), choiceSeed(21, 2)]);
    assert.equal(b.swarmpath.seed, 21);
    const single = (await post('/v1/completions', { ...body, n: 1 })).json();
    assert.equal(single.choices[0].text, b.choices[0].text, 'choice 0 is the n = 1 answer');
    assert.deepEqual((await post('/v1/completions', body)).json().choices, b.choices, 'the same seed, the same texts');
  });

  it('streams interleaved chunks naming their index, then usage alone with stream_options.include_usage', async () => {
    const { post } = api();
    const body = { messages: [{ role: 'user', content: 'tell me' }], max_tokens: 25, seed: 4, n: 2 };
    const plain = (await post('/v1/chat/completions', body)).json();
    const chunks = chunksOf((await post('/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } })).events());
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, plain.usage);
    const rest = chunks.slice(0, -1);
    assert.ok(rest.every((c) => c.usage === null && c.choices.length === 1));
    for (const i of [0, 1]) {
      const mine = rest.filter((c) => c.choices[0].index === i);
      assert.deepEqual(mine[0].choices[0].delta, { role: 'assistant', content: '' });
      assert.equal(mine.map((c) => c.choices[0].delta.content ?? '').join(''), plain.choices[i].message.content);
      assert.deepEqual(mine.filter((c) => c.choices[0].finish_reason !== null).map((c) => c.choices[0].finish_reason), [plain.choices[i].finish_reason]);
      assert.equal(mine.at(-1).choices[0].finish_reason, plain.choices[i].finish_reason);
    }
    const firstOf1 = rest.findIndex((c) => c.choices[0].index === 1);
    const lastOf0 = rest.findLastIndex((c) => c.choices[0].index === 0);
    assert.ok(firstOf1 < lastOf0, 'the choices run at once: their chunks interleave');
    // Without include_usage each finish chunk carries its choice's usage, as before stream_options.
    const legacy = chunksOf((await post('/v1/chat/completions', { ...body, stream: true })).events());
    const finishes = legacy.filter((c) => c.choices[0].finish_reason !== null);
    assert.deepEqual(finishes.map((c) => c.choices[0].index).sort(), [0, 1]);
    assert.ok(finishes.every((c) => c.usage.prompt_tokens === plain.usage.prompt_tokens));
    assert.equal(finishes.reduce((n, c) => n + c.usage.completion_tokens, 0), plain.usage.completion_tokens);
    assert.ok(legacy.every((c) => c.choices[0].finish_reason !== null || c.usage === undefined));
  });
});

describe('logprobs and echo', () => {
  it('completions: echo prepends the prompt; prompt and generated logprobs are the model\'s, text offsets line up', async () => {
    const { runtime, post } = api();
    const prompt = 'hello';
    const b = (await post('/v1/completions', { prompt, max_tokens: 12, temperature: 0, logprobs: 3, echo: true, stop: ['zzz'] })).json();
    const c = b.choices[0];
    assert.ok(c.text.startsWith(prompt));
    const lp = c.logprobs;
    assert.equal(lp.tokens.length, prompt.length + 12);
    assert.equal(lp.tokens.join(''), c.text);
    lp.text_offset.forEach((o: number, i: number) => assert.equal(c.text[o], lp.tokens[i]));
    assert.equal(lp.token_logprobs[0], null);
    assert.equal(lp.top_logprobs[0], null);
    const want = await promptLogprobs(runtime, prompt + c.text.slice(prompt.length), ['L0.0', 'L1.0']);
    for (let i = 1; i < lp.tokens.length; i++) {
      const tok = lp.tokens[i].charCodeAt(0);
      assert.ok(Math.abs(lp.token_logprobs[i] - want[i - 1][tok]) < 1e-9, `token ${i}`);
      const keys = Object.keys(lp.top_logprobs[i]);
      assert.ok(keys.length >= 3 && keys.length <= 4 && keys.includes(lp.tokens[i]));
      // greedy: every generated token is the most likely one
      if (i >= prompt.length) assert.equal(lp.token_logprobs[i], Math.max(...Object.values(lp.top_logprobs[i]) as number[]));
    }
  });

  it('chat: logprobs.content with exactly top_logprobs alternatives, streamed pieces adding up to the whole', async () => {
    const { post } = api();
    const body = { messages: [{ role: 'user', content: 'hey' }], max_tokens: 20, seed: 8, logprobs: true, top_logprobs: 2 };
    const b = (await post('/v1/chat/completions', body)).json();
    const content = b.choices[0].logprobs.content;
    assert.equal(content.map((e: { token: string }) => e.token).join(''), b.choices[0].message.content);
    assert.ok(content.every((e: { logprob: number; bytes: number[]; top_logprobs: unknown[]; token: string }) =>
      e.logprob <= 0 && e.top_logprobs.length === 2 && e.bytes.length === 1 && e.bytes[0] === e.token.charCodeAt(0)));
    const chunks = chunksOf((await post('/v1/chat/completions', { ...body, stream: true })).events());
    const streamed = chunks.flatMap((c) => c.choices[0].logprobs?.content ?? []);
    assert.deepEqual(streamed, content);
  });

  it('streamed completions with echo open with the prompt and its logprobs', async () => {
    const { post } = api();
    const body = { prompt: 'abc', max_tokens: 10, seed: 2, logprobs: 1, echo: true };
    const plain = (await post('/v1/completions', body)).json().choices[0];
    const chunks = chunksOf((await post('/v1/completions', { ...body, stream: true })).events());
    assert.equal(chunks[0].choices[0].text, 'abc');
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), plain.text);
    const merged = { tokens: [] as string[], text_offset: [] as number[], token_logprobs: [] as (number | null)[] };
    for (const c of chunks) {
      const l = c.choices[0].logprobs;
      if (!l) continue;
      merged.tokens.push(...l.tokens);
      merged.text_offset.push(...l.text_offset);
      merged.token_logprobs.push(...l.token_logprobs);
    }
    assert.deepEqual(merged, { tokens: plain.logprobs.tokens, text_offset: plain.logprobs.text_offset, token_logprobs: plain.logprobs.token_logprobs });
  });

  it('logit_bias: +100 makes a token the only choice, -100 bans one', async () => {
    const { post } = api();
    const only = (await post('/v1/completions', { prompt: 'hello', max_tokens: 10, seed: 1, logit_bias: { 113: 100 } })).json();
    assert.equal(only.choices[0].text, 'q'.repeat(10));
    const free = (await post('/v1/completions', { prompt: 'hello', max_tokens: 40, seed: 3, temperature: 0 })).json().choices[0].text;
    const top = [...free].sort((x, y) => free.split(y).length - free.split(x).length)[0];
    const banned = (await post('/v1/completions', { prompt: 'hello', max_tokens: 40, seed: 3, temperature: 0, logit_bias: { [top.charCodeAt(0)]: -100 } })).json();
    assert.ok(!banned.choices[0].text.includes(top), `${JSON.stringify(top)} banned: ${banned.choices[0].text}`);
  });

  it('bad values answer 400 with the field in param', async () => {
    const { server } = api();
    for (const [path, body, param] of [
      ['/v1/completions', { prompt: 'x', n: 9 }, 'n'],
      ['/v1/completions', { prompt: 'x', logit_bias: { 999: 1 } }, 'logit_bias.999'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] }, 'tools'],
    ] as const) {
      const r = await inject(server, { path, body });
      assert.equal(r.status, 400);
      assert.equal(r.json().error.param, param);
      assert.equal(r.json().error.type, 'invalid_request_error');
    }
  });
});

describe('runChoices', () => {
  it('rejects with the first failure, after aborting and waiting for the other choices', async () => {
    const stopped: number[] = [];
    const run = (i: number, signal: AbortSignal) => new Promise<number>((resolve, reject) => {
      if (i === 1) { reject(new SwarmpathError('NO_LIVE_REPLICA', 'first')); return; }
      // A choice stops a moment after its abort, as a generation does at its next step.
      signal.addEventListener('abort', () => setImmediate(() => { stopped.push(i); reject(new SwarmpathError('CANCELLED', 'aborted')); }));
    });
    await assert.rejects(runChoices(3, new AbortController().signal, run), (e: SwarmpathError) => e.code === 'NO_LIVE_REPLICA');
    assert.deepEqual(stopped.sort(), [0, 2]);
  });

  it('follows the request\'s signal and resolves results in index order', async () => {
    assert.deepEqual(await runChoices(3, new AbortController().signal, async (i) => i * 10), [0, 10, 20]);
    const ctl = new AbortController();
    let started = 0;
    const p = runChoices(2, ctl.signal, (_i, s) => new Promise((_r, reject) => {
      started++;
      if (s.aborted) reject(new Error('cancelled'));
      s.addEventListener('abort', () => reject(new Error('cancelled')));
    }));
    await Promise.resolve();
    assert.equal(started, 2);
    ctl.abort();
    await assert.rejects(p, /cancelled/);
  });
});
