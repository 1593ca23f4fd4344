import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { NoLiveReplicaError, SwarmpathError } from '../../../shared/errors.ts';
import { createGenerator } from '../../../router/generation.ts';
import type { GenerateRequest } from '../../../router/generation.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { FakeDiscovery, FakeHost, referenceText, toyRuntime } from './fakes.ts';

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
    const r = await gen.generate(req, () => {
      if (hosts[2].steps + hosts[3].steps > 10 && !rehosted) {
        rehosted = true;
        hosts[2].kill(); hosts[3].kill();
        setTimeout(() => { discovery.hosts.push(new FakeHost('b2', ['L1.0', 'L1.1'])); }, 100);
      }
    });
    assert.ok(rehosted, 'the stage lost every replica mid-generation');
    assert.equal(r.text, want);
    assert.ok(r.hosts.includes('b2'), `served by the re-hosted replica: ${r.hosts.join(',')}`);
  });

  it('does not retry bad input', async () => {
    const hosts = twoReplicas();
    hosts[0].opts.failWith = 'INVALID_ARGUMENT';
    hosts[1].opts.failWith = 'INVALID_ARGUMENT';
    const { runtime, gen, failovers } = setup(hosts);
    await assert.rejects(gen.generate(request(runtime, 'hello')), (e: unknown) => e instanceof SwarmpathError && e.code === 'INVALID_ARGUMENT');
    assert.equal(failovers.length, 0);
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
    const hosts = twoReplicas().map((h) => { h.opts.delayMs = 5; return h; });
    const { runtime, gen } = setup(hosts);
    const ac = new AbortController();
    let pieces = 0;
    const p = gen.generate(request(runtime, 'hello', { signal: ac.signal, maxTokens: 100 }), () => { if (++pieces === 3) ac.abort(); });
    await assert.rejects(p, (e: unknown) => e instanceof SwarmpathError && e.code === 'CANCELLED');
    assert.equal(hosts.reduce((n, h) => n + h.activeSessions, 0), 0);
  });
});
