import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { NoLiveReplicaError, SwarmpathError } from '../../../shared/errors.ts';
import { createGenerator } from '../../../router/generation.ts';
import type { GenerateRequest } from '../../../router/generation.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { FakeDiscovery, FakeHost, referenceText, toyExpert, toyRuntime } from './fakes.ts';
import { NO_PROCESSING } from '../../../router/sampling/logit-processors.ts';
import { logSoftmax } from '../../../router/sampling/logprobs.ts';
import type { F32 } from '../../../shared/runtime-types.ts';

function setup(hosts: FakeHost[], opts: { noReplicaWaitMs?: number; stepTimeoutMs?: number } = {}) {
  const runtime = toyRuntime();
  const discovery = new FakeDiscovery(hosts);
  const balancer = new ReplicaBalancer();
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: opts.noReplicaWaitMs ?? 200, pollMs: 20, cacheTtlMs: 50 },
    { discovery, balancer, connect: discovery.connect, log: silentLogger });
  const failovers: string[] = [];
  const retries: string[] = [];
  const gen = createGenerator({ stepTimeoutMs: opts.stepTimeoutMs ?? 2000 }, {
    runtime, pool, log: silentLogger, events: {
      onFailover: (id, reason) => failovers.push(`${id}:${reason}`),
      onRetry: (id, reason) => retries.push(`${id}:${reason}`),
    },
  });
  return { runtime, discovery, balancer, pool, gen, failovers, retries };
}

function request(runtime: ReturnType<typeof toyRuntime>, prompt: string, over: Partial<GenerateRequest> = {}): GenerateRequest {
  const tokens = runtime.encode(prompt);
  return {
    prompt: tokens, path: runtime.route(tokens).path, maxTokens: 40, sampling: { temperature: 0.8, topP: 1 },
    seed: 7, stop: [], deadlineMs: Date.now() + 10_000, ...over,
  };
}

const twoReplicas = () => [
  new FakeHost('a0', ['L0.0', 'L0.1']), new FakeHost('a1', ['L0.0', 'L0.1']),
  new FakeHost('b0', ['L1.0', 'L1.1']), new FakeHost('b1', ['L1.0', 'L1.1']),
];

describe('generation over fake hosts', () => {
  it('produces the reference text for a seed, and the same text twice', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const req = request(runtime, 'hello');
    const want = await referenceText(runtime, 'hello', req.path, 40, 7, req.sampling);
    const r1 = await gen.generate(req);
    const r2 = await gen.generate(request(runtime, 'hello'));
    assert.equal(r1.text, want);
    assert.equal(r2.text, want);
    assert.equal(r1.completionTokens, 40);
    assert.equal(r1.promptTokens, 5);
    assert.equal(r1.finishReason, 'length');
    assert.equal(r1.hosts.length, 2);
    assert.equal(r1.replays, 0);
    // a different seed gives a different text (the check above can fail)
    const other = await gen.generate(request(runtime, 'hello', { seed: 8 }));
    assert.notEqual(other.text, want);
  });

  it('streams pieces that add up to the text', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const pieces: string[] = [];
    const r = await gen.generate(request(runtime, 'abc'), (t) => { pieces.push(t); });
    assert.ok(pieces.length > 1);
    assert.equal(pieces.join(''), r.text);
  });

  it('moves a session whose host dies mid-generation and keeps the text exact', async () => {
    for (const dieAt of [0, 1, 5, 17]) {
      const hosts = twoReplicas();
      const { runtime, gen, failovers, retries } = setup(hosts);
      const req = request(runtime, 'hello');
      const want = await referenceText(runtime, 'hello', req.path, 40, 7, req.sampling);
      // the replica of level 1 picked first (b0: the balancer breaks ties by arrival) dies after `dieAt` steps
      hosts[2].opts.dieAfterSteps = dieAt;
      const r = await gen.generate(req);
      assert.equal(r.text, want, `dieAt ${dieAt}`);
      assert.equal(r.replays, 1, `dieAt ${dieAt}`);
      assert.equal(failovers.length, 1);
      assert.ok(failovers[0].startsWith('L1.') && failovers[0].endsWith(':UNAVAILABLE'));
      assert.deepEqual(retries, failovers, 'one failed call, retried once, one completed move');
      const dead = hosts.filter((h) => h.dead).map((h) => h.peerId);
      assert.deepEqual(dead, ['b0']);
      assert.equal(r.hosts[1], 'b1');
      // the replacement got the whole history in one step at position 0
      const survivor = hosts.slice(2).find((h) => !h.dead) as FakeHost;
      if (dieAt > 0) assert.equal(survivor.positions[0], 0);
    }
  });

  it('a host serving both stages dies: the idle stage, whose stream closed, moves by replay too', async () => {
    for (const dieAt of [1, 6, 21]) {
      const hosts = [new FakeHost('c0', ['L0.0', 'L0.1', 'L1.0', 'L1.1']), new FakeHost('c1', ['L0.0', 'L0.1', 'L1.0', 'L1.1'])];
      const { runtime, gen } = setup(hosts);
      const req = request(runtime, 'hello');
      const want = await referenceText(runtime, 'hello', req.path, 40, 7, req.sampling);
      hosts[0].opts.dieAfterSteps = dieAt;
      const r = await gen.generate(req);
      assert.equal(r.text, want, `dieAt ${dieAt}`);
      assert.deepEqual(r.hosts, ['c1', 'c1'], `dieAt ${dieAt}`);
      assert.equal(r.replays, 2, 'both stages moved');
    }
  });

  it('fails with NoLiveReplicaError after a bounded wait when an expert has no host', async () => {
    const { runtime, gen } = setup([new FakeHost('a0', ['L0.0', 'L0.1'])], { noReplicaWaitMs: 100 });
    const t0 = Date.now();
    await assert.rejects(gen.generate(request(runtime, 'hello')), (e: unknown) => e instanceof NoLiveReplicaError && e.http === 503 && (e.retryAfterS ?? 0) > 0);
    assert.ok(Date.now() - t0 < 2000);
  });

  it('waits a bounded time, then 503 with Retry-After, when every replica of a stage is dead (records still listed)', async () => {
    const hosts = twoReplicas();
    hosts[2].kill(); hosts[3].kill();
    const { runtime, gen } = setup(hosts, { noReplicaWaitMs: 300 });
    const t0 = Date.now();
    await assert.rejects(gen.generate(request(runtime, 'hello')),
      (e: unknown) => e instanceof NoLiveReplicaError && e.http === 503 && (e.retryAfterS ?? 0) > 0);
    const waited = Date.now() - t0;
    assert.ok(waited >= 300 && waited < 5000, `waited ${waited} ms`);
  });

  it('a request whose every replica died completes on a replica re-hosted during the wait, with the same text', async () => {
    const hosts = twoReplicas();
    const { runtime, discovery, gen } = setup(hosts, { noReplicaWaitMs: 5000 });
    const req = request(runtime, 'hello');
    const want = await referenceText(runtime, 'hello', req.path, 40, 7, req.sampling);
    let rehosted = false;
    let killedAt = 0;
    // The replacement appears while the request waits for a replica: two discovery queries after the kill.
    const replicas = discovery.replicas.bind(discovery);
    discovery.replicas = async (model, expertId) => {
      if (rehosted && discovery.queries >= killedAt + 2 && !discovery.hosts.some((h) => h.peerId === 'b2')) {
        discovery.hosts.push(new FakeHost('b2', ['L1.0', 'L1.1']));
      }
      return replicas(model, expertId);
    };
    const r = await gen.generate(req, () => {
      if (hosts[2].steps + hosts[3].steps > 10 && !rehosted) {
        rehosted = true;
        killedAt = discovery.queries;
        hosts[2].kill(); hosts[3].kill();
      }
    });
    assert.ok(rehosted, 'the stage lost every replica mid-generation');
    assert.equal(r.text, want);
    assert.ok(r.hosts.includes('b2'), `served by the re-hosted replica: ${r.hosts.join(',')}`);
  });

  it("a host's INVALID_ARGUMENT is never the client's 400: every replica refusing makes a 503", async () => {
    const hosts = twoReplicas();
    hosts[0].opts.failWith = 'INVALID_ARGUMENT';
    hosts[1].opts.failWith = 'INVALID_ARGUMENT';
    const { runtime, gen, retries } = setup(hosts);
    await assert.rejects(gen.generate(request(runtime, 'hello')), (e: unknown) => e instanceof SwarmpathError && e.http === 503);
    assert.ok(retries.length >= 2, 'each refusal struck its host and moved on');
  });

  it('retries a step past its deadline on another replica, without a strike', async () => {
    const hosts = twoReplicas();
    hosts[2].opts.hang = true;
    const { runtime, gen, balancer } = setup(hosts, { stepTimeoutMs: 100 });
    const req = request(runtime, 'hello', { maxTokens: 5 });
    const want = await referenceText(runtime, 'hello', req.path, 5, 7, req.sampling);
    const r = await gen.generate(req);
    assert.equal(r.text, want);
    assert.equal(r.hosts[1], 'b1');
    assert.equal(balancer.stats(req.path[1]).find((s) => s.replica === 'b0')?.strikes, 0);
  });

  it('stops at a stop string, which is not in the text', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const base = await gen.generate(request(runtime, 'hello'));
    const stop = base.text.slice(10, 12);
    const cut = base.text.indexOf(stop);
    const r = await gen.generate(request(runtime, 'hello', { stop: [stop] }));
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.text, base.text.slice(0, cut));
  });

  it('cancels on abort and closes its sessions', async () => {
    const hosts = twoReplicas();
    const { runtime, gen } = setup(hosts);
    const ac = new AbortController();
    let pieces = 0;
    const p = gen.generate(request(runtime, 'hello', { signal: ac.signal, maxTokens: 100 }), () => { if (++pieces === 3) ac.abort(); });
    await assert.rejects(p, (e: unknown) => e instanceof SwarmpathError && e.code === 'CANCELLED');
    assert.equal(hosts.reduce((n, h) => n + h.activeSessions, 0), 0);
  });
});

/** Greedy generation along the path in one place: each token and the log-softmax of the logits it came from. */
async function greedyReference(runtime: ReturnType<typeof toyRuntime>, prompt: string, path: readonly string[], n: number) {
  const hist = path.map(() => [] as Float32Array[]);
  const fwd = (h: F32) => path.reduce((x, id, s) => toyExpert(id, hist[s], x), h);
  const tokens = runtime.encode(prompt);
  let logits = await runtime.lastLogits(fwd(await runtime.embed(tokens, 0)));
  const out: { token: number; logprobs: Float64Array }[] = [];
  for (let i = 0; i < n; i++) {
    const lp = logSoftmax(logits);
    let token = 0;
    for (let v = 1; v < lp.length; v++) if (lp[v] > lp[token]) token = v;
    out.push({ token, logprobs: lp });
    logits = await runtime.lastLogits(fwd(await runtime.embed([token], tokens.length + i)));
  }
  return out;
}

describe('generation with logit processing and log-probabilities', () => {
  it('reports each token\'s raw log-probability and top alternatives, the same after a failover', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const req = request(runtime, 'hello', { sampling: { temperature: 0, topP: 1 }, maxTokens: 20, logprobs: 3 });
    const want = await greedyReference(runtime, 'hello', req.path, 20);
    const r = await gen.generate(req);
    assert.deepEqual(r.logprobs?.map((e) => e.token), want.map((w) => w.token));
    r.logprobs?.forEach((e, i) => {
      assert.equal(e.logprob, want[i].logprobs[e.token]);
      assert.equal(e.offset, i);
      assert.equal(e.top?.length, 3);
      assert.equal(e.top?.[0].token, e.token, 'greedy: the chosen token is the most likely');
    });
    const other = twoReplicas();
    other[2].opts.dieAfterSteps = 7; // b0, level 1's first pick, dies mid-generation
    const second = setup(other);
    const moved = await second.gen.generate(request(second.runtime, 'hello', { sampling: { temperature: 0, topP: 1 }, maxTokens: 20, logprobs: 3 }));
    assert.equal(moved.replays, 1);
    assert.deepEqual(moved.logprobs, r.logprobs);
  });

  it('hands each piece its tokens\' entries and leaves out a cut stop string\'s', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const base = await gen.generate(request(runtime, 'hello'));
    const stop = base.text.slice(10, 13);
    const pieces: { text: string; tokens: number[] }[] = [];
    const r = await gen.generate(request(runtime, 'hello', { stop: [stop], logprobs: 0 }), (text, info) => {
      pieces.push({ text, tokens: (info.logprobs ?? []).map((e) => e.token) });
    });
    assert.equal(r.finishReason, 'stop');
    assert.equal(String.fromCharCode(...(r.logprobs ?? []).map((e) => e.token)), r.text);
    for (const p of pieces) assert.equal(String.fromCharCode(...p.tokens), p.text);
    assert.ok(r.completionTokens > (r.logprobs ?? []).length, 'the stop string\'s tokens were generated, not reported');
  });

  it('prompt log-probabilities: none for the first token, the model\'s for the others', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const r = await gen.generate(request(runtime, 'hello', { maxTokens: 1, logprobs: 2, promptLogprobs: true }));
    const p = r.promptLogprobs ?? [];
    assert.deepEqual(p.map((e) => e.token), [...runtime.encode('hello')]);
    assert.equal(p[0].logprob, null);
    const path = request(runtime, 'hello').path;
    for (let t = 1; t < 5; t++) {
      const ref = await greedyReference(runtime, 'hello'.slice(0, t), path, 1);
      assert.ok(Math.abs((p[t].logprob ?? 0) - ref[0].logprobs[p[t].token]) < 1e-12, `prompt token ${t}`);
      assert.equal(p[t].offset, t);
    }
  });

  it('top_k = 1 gives the greedy text at any temperature; processing keeps a seed\'s text reproducible', async () => {
    const { runtime, gen } = setup(twoReplicas());
    const greedy = await gen.generate(request(runtime, 'hello', { sampling: { temperature: 0, topP: 1 } }));
    const topK1 = await gen.generate(request(runtime, 'hello', { sampling: { temperature: 1.5, topP: 1 }, processing: { ...NO_PROCESSING, topK: 1 } }));
    assert.equal(topK1.text, greedy.text);
    const penalised = { ...NO_PROCESSING, frequencyPenalty: 1.5, repetitionPenalty: 1.3, minP: 0.05 };
    const a = await gen.generate(request(runtime, 'hello', { processing: penalised }));
    const b = await gen.generate(request(runtime, 'hello', { processing: penalised }));
    const plain = await gen.generate(request(runtime, 'hello'));
    assert.equal(a.text, b.text);
    assert.notEqual(a.text, plain.text);
  });
});
