/**
 * Integrity of real traffic over fake hosts (router/cross-check.ts, router/stage-session.ts): a host
 * honest on Forward but lying on Session, a host returning NaN, a host answering INVALID_ARGUMENT.
 * The fakes' experts depend on the whole history, so a wrong step changes the text.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/log.ts';
import { createGenerator, type GenerateRequest } from '../../../router/generation.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import type { CrossCheckInit } from '../../../router/cross-check.ts';
import { FakeDiscovery, FakeHost, referenceText, toyRuntime } from './fakes.ts';

function setup(hosts: FakeHost[], spotCheck?: CrossCheckInit) {
  const runtime = toyRuntime();
  const discovery = new FakeDiscovery(hosts);
  const results: string[] = [];
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: 200, pollMs: 20, cacheTtlMs: 50, spotCheck },
    { discovery, balancer: new ReplicaBalancer(), connect: discovery.connect, log: silentLogger, onCrossCheck: (_e, r) => results.push(r) });
  const gen = createGenerator({ stepTimeoutMs: 2000 }, { runtime, pool, log: silentLogger });
  return { runtime, pool, gen, results };
}

function request(runtime: ReturnType<typeof toyRuntime>, prompt: string, seed: number): GenerateRequest {
  const tokens = runtime.encode(prompt);
  return {
    prompt: tokens, path: runtime.route(tokens).path, maxTokens: 24, sampling: { temperature: 0.8, topP: 1 },
    seed, stop: [], deadlineMs: Date.now() + 10_000,
  };
}

/** Three replicas of each level-0 expert (one lying when asked), two of each level-1 expert. */
const swarm = (liar: FakeHost['opts']) => [
  new FakeHost('liar', ['L0.0', 'L0.1'], liar), new FakeHost('a1', ['L0.0', 'L0.1']), new FakeHost('a2', ['L0.0', 'L0.1']),
  new FakeHost('b0', ['L1.0', 'L1.1']), new FakeHost('b1', ['L1.0', 'L1.1']),
];

async function texts(s: ReturnType<typeof setup>, n: number): Promise<{ got: string[]; want: string[] }> {
  const got: string[] = [];
  const want: string[] = [];
  for (let i = 0; i < n; i++) {
    const req = request(s.runtime, 'hello', 100 + i);
    want.push(await referenceText(s.runtime, 'hello', req.path, 24, 100 + i, req.sampling));
    got.push((await s.gen.generate(req)).text);
  }
  return { got, want };
}

describe('integrity of real traffic', () => {
  it('without cross-checks, a host lying on Session changes the text (what the checks below prevent)', async () => {
    const { got, want } = await texts(setup(swarm({ perturbSession: 0.2 })), 12);
    expect(got.filter((t, i) => t !== want[i]).length).toBeGreaterThan(0);
  });

  it('with cross-checks, a host lying on Session is outvoted on its first step, distrusted, and no text differs', async () => {
    const s = setup(swarm({ perturbSession: 0.2 }), { fraction: 0.05, firstChecks: 1 });
    const { got, want } = await texts(s, 12);
    expect(got).toEqual(want);
    expect(s.results).toContain('primary-wrong');
    expect(s.pool.trusted('L0.0', 'liar')).toBe(false);
    expect(s.pool.trusted('L0.1', 'liar'), 'distrusted for every expert').toBe(false);
    const view = await s.pool.view(['L0.0', 'L0.1']);
    expect(view['L0.0'].map((r) => r.peerId)).not.toContain('liar');
  });

  it('a host returning NaN is distrusted and its step replayed elsewhere: the text is the honest one', async () => {
    const s = setup(swarm({ nanSession: true }));
    const { got, want } = await texts(s, 6);
    expect(got).toEqual(want);
    expect(s.pool.trusted('L0.0', 'liar')).toBe(false);
  });

  it("a host's INVALID_ARGUMENT is that host's failure, not the client's: the request succeeds elsewhere", async () => {
    const s = setup(swarm({ failWith: 'INVALID_ARGUMENT' }));
    const { got, want } = await texts(s, 6);
    expect(got).toEqual(want);
  });
});

describe('failover past many dead records', () => {
  it('goes on past maxAttempts while each attempt reaches a replica not tried yet (after a crash several records lie at once)', async () => {
    const dead = [0, 1, 2, 3, 4].map((i) => new FakeHost(`dead${i}`, ['L0.0', 'L0.1']));
    for (const h of dead) h.kill();
    const s = setup([...dead, new FakeHost('alive', ['L0.0', 'L0.1']), new FakeHost('b0', ['L1.0', 'L1.1'])]);
    const { got, want } = await texts(s, 2);
    expect(got).toEqual(want);
  });
});
