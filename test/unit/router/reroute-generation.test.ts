/**
 * Generation with re-routing (router --reroute-every) over fake hosts: the text equals a reference
 * computed in one place with the same rule (rerouteReferenceText below), only the stages from the
 * first changed level open new sessions, and failover during or after a re-route keeps the text.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { createGenerator } from '../../../router/generation.ts';
import type { GenerateRequest } from '../../../router/generation.ts';
import { PathSession } from '../../../router/path-session.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import type { RouterRuntime, SamplingParams } from '../../../router/runtime.ts';
import type { ExpertClient } from '../../../shared/transport-types.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import { FakeDiscovery, FakeHost, referenceText, toyExpert, toyManifest, toyRuntime } from './fakes.ts';

/**
 * Generation with re-routing every `every` tokens in one place, written apart from router/reroute.ts:
 * after the g-th token (g a multiple of `every`, not the last) `rt.route` reads the last prefix_bytes
 * bytes of the context; on a change the new path runs the whole context afresh (new histories).
 */
async function rerouteReferenceText(rt: RouterRuntime, prompt: string, every: number, maxTokens: number,
  seed: number, sampling: SamplingParams): Promise<{ text: string; paths: (readonly string[])[] }> {
  const P = rt.manifest.router.featurizer.prefix_bytes;
  const context = Array.from(rt.encode(prompt));
  let path = rt.route(Uint8Array.from(context)).path;
  const paths = [path];
  let hist: Float32Array[][] = path.map(() => []);
  const fwd = (h: F32) => path.reduce((x, id, s) => toyExpert(id, hist[s], x), h);
  let logits = await rt.lastLogits(fwd(await rt.embed(context, 0)));
  const sample = rt.sampler(seed, sampling);
  const dec = rt.decoder();
  let text = '';
  for (let g = 1; g <= maxTokens; g++) {
    const tok = sample(logits);
    text += dec.push(tok);
    context.push(tok);
    if (g === maxTokens) break;
    const next = g % every === 0 ? rt.route(Uint8Array.from(context.slice(-P))).path : path;
    if (next.join() !== path.join()) {
      path = next;
      paths.push(path);
      hist = path.map(() => []);
      logits = await rt.lastLogits(fwd(await rt.embed(context, 0)));
    } else {
      logits = await rt.lastLogits(fwd(await rt.embed([tok], context.length - 1)));
    }
  }
  return { text: text + dec.end(), paths };
}

/**
 * A fake host that dies at the first step with more than one position (a re-route's or a replay's
 * prefill) once `wire.armed` is set; the wire is shared by several hosts and disarmed by the first.
 */
class PrefillTripHost extends FakeHost {
  readonly wire: { armed: boolean; tripped?: string };

  constructor(peerId: string, experts: string[], wire: { armed: boolean; tripped?: string }) {
    super(peerId, experts);
    this.wire = wire;
  }

  override client(): ExpertClient {
    const inner = super.client();
    const open = inner.openSession.bind(inner);
    return {
      ...inner,
      openSession: async (expertId, maxLength, opts) => {
        const s = await open(expertId, maxLength, opts);
        return {
          get closed() { return s.closed; },
          close: () => s.close(),
          step: (hidden, position, o) => {
            if (this.wire.armed && hidden.dims[1] > 1) {
              this.wire.armed = false;
              this.wire.tripped = this.peerId;
              this.kill();
            }
            return s.step(hidden, position, o);
          },
        };
      },
    };
  }
}

const SAMPLING = { temperature: 0.8, topP: 1 };
const EVERY = 4;

/** Paths of the toy router: both levels differ between clusters, only level 1, or either (3 clusters). */
function runtimeWith(paths: 'both' | 'level1' | 'mixed') {
  const m = toyManifest();
  if (paths === 'level1') m.router.paths = [['L0.0', 'L1.0'], ['L0.0', 'L1.1']];
  if (paths !== 'mixed') return toyRuntime(m);
  m.router.paths = [['L0.0', 'L1.0'], ['L0.1', 'L1.1'], ['L0.1', 'L1.0']];
  m.router.centroids.push([0, 0, 1, 0]);
  const rt = toyRuntime(m);
  return { ...rt, route: (tokens: Uint8Array) => ({ path: m.router.paths[tokens[0] % 3], cluster: tokens[0] % 3, distances: [0, 0, 0] }) };
}

function setup(hosts: FakeHost[], runtime = runtimeWith('both'), every = EVERY) {
  const discovery = new FakeDiscovery(hosts);
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: 200, pollMs: 20, cacheTtlMs: 50 },
    { discovery, balancer: new ReplicaBalancer(), connect: discovery.connect, log: silentLogger });
  const reroutes: { from: string; to: string; fromLevel: number; positions: number; stages: number }[] = [];
  const failovers: string[] = [];
  const gen = createGenerator({ stepTimeoutMs: 2000, rerouteEvery: every }, {
    runtime, pool, log: silentLogger, events: {
      onFailover: (id, reason) => failovers.push(`${id}:${reason}`),
      onReroute: (e) => reroutes.push({ from: e.from.join(), to: e.to.join(), fromLevel: e.fromLevel, positions: e.positions, stages: e.stageSeconds.length }),
    },
  });
  return { runtime, gen, reroutes, failovers };
}

function request(runtime: ReturnType<typeof toyRuntime>, prompt: string, over: Partial<GenerateRequest> = {}): GenerateRequest {
  const tokens = runtime.encode(prompt);
  return { prompt: tokens, path: runtime.route(tokens).path, maxTokens: 40, sampling: SAMPLING, seed: 7, stop: [], deadlineMs: Date.now() + 10_000, ...over };
}

const hostsFor = () => [
  new FakeHost('a0', ['L0.0', 'L0.1']), new FakeHost('a1', ['L0.0', 'L0.1']),
  new FakeHost('b0', ['L1.0', 'L1.1']), new FakeHost('b1', ['L1.0', 'L1.1']),
];

describe('generation with re-routing over fake hosts', () => {
  it('gives the re-routing reference text, reports the paths, and is repeatable for a seed', async () => {
    const { runtime, gen, reroutes } = setup(hostsFor());
    const want = await rerouteReferenceText(runtime, 'hello', EVERY, 40, 7, SAMPLING);
    assert.ok(want.paths.length > 1, 'the reference changes path (else this test could not fail)');
    const plain = await referenceText(runtime, 'hello', want.paths[0], 40, 7, SAMPLING);
    assert.notEqual(want.text, plain, 'the re-routed text differs from the single-path one');
    const r = await gen.generate(request(runtime, 'hello'));
    assert.equal(r.text, want.text);
    assert.deepEqual(r.paths, want.paths);
    assert.equal(r.reroutes, want.paths.length - 1);
    assert.deepEqual(r.path, want.paths[0]);
    assert.equal(reroutes.length, r.reroutes);
    for (const e of reroutes) {
      assert.equal(e.positions % EVERY, 'hello'.length % EVERY, 'a re-route comes after a multiple of N new tokens');
      assert.equal(e.stages, 2 - e.fromLevel, 'a prefill time per moved stage');
    }
    const again = await gen.generate(request(runtime, 'hello'));
    assert.equal(again.text, want.text);
  });

  it('a level-0 change moves every stage; each new session is prefilled with the whole context at position 0', async () => {
    const hosts = hostsFor();
    const { runtime, gen, reroutes } = setup(hosts);
    const r = await gen.generate(request(runtime, 'hello'));
    assert.ok(r.reroutes > 0);
    assert.ok(reroutes.every((e) => e.fromLevel === 0), 'toy paths differ at level 0');
    const opened = (ids: string[]) => hosts.filter((h) => ids.includes(h.peerId)).reduce((n, h) => n + h.opened, 0);
    assert.equal(opened(['a0', 'a1']), 1 + r.reroutes);
    assert.equal(opened(['b0', 'b1']), 1 + r.reroutes);
    const prefills = hosts.flatMap((h) => h.positions).filter((p) => p === 0).length;
    assert.equal(prefills, 2 * (1 + r.reroutes), 'the prompt prefill and one per moved stage per re-route');
    assert.ok(hosts.every((h) => h.activeSessions === 0), 'ended sessions are closed');
  });

  it('a level-1-only change keeps the level-0 session and moves level 1 alone', async () => {
    const hosts = hostsFor();
    const runtime = runtimeWith('level1');
    const { gen, reroutes } = setup(hosts, runtime);
    const want = await rerouteReferenceText(runtime, 'hello', EVERY, 40, 7, SAMPLING);
    assert.ok(want.paths.length > 1);
    const r = await gen.generate(request(runtime, 'hello'));
    assert.equal(r.text, want.text);
    assert.ok(reroutes.length > 0 && reroutes.every((e) => e.fromLevel === 1));
    assert.equal(hosts[0].opened + hosts[1].opened, 1, 'level 0 kept its one session');
    assert.equal(hosts[2].opened + hosts[3].opened, 1 + r.reroutes);
    assert.equal([...hosts[0].positions, ...hosts[1].positions].filter((p) => p === 0).length, 1, 'level 0 never re-prefilled');
  });

  it('moves at level 0 and at level 1 in one request: a stage moved with level 0 is the one level 1 moves from', async () => {
    const runtime = runtimeWith('mixed');
    const { gen, reroutes } = setup(hostsFor(), runtime, 3);
    const want = await rerouteReferenceText(runtime, 'hello', 3, 60, 7, SAMPLING);
    const r = await gen.generate(request(runtime, 'hello', { maxTokens: 60 }));
    assert.deepEqual(new Set(reroutes.map((e) => e.fromLevel)), new Set([0, 1]), 'both kinds of move happen');
    assert.ok(reroutes.findIndex((e) => e.fromLevel === 1) > reroutes.findIndex((e) => e.fromLevel === 0), 'a level-1 move after a level-0 one');
    assert.equal(r.text, want.text);
    assert.deepEqual(r.paths, want.paths);
  });

  it('without --reroute-every the path never changes', async () => {
    const { runtime, gen } = setup(hostsFor(), runtimeWith('both'), 0);
    const req = request(runtime, 'hello');
    const r = await gen.generate(req);
    assert.equal(r.text, await referenceText(runtime, 'hello', req.path, 40, 7, SAMPLING));
    assert.deepEqual(r.paths, [req.path]);
    assert.equal(r.reroutes, 0);
  });

  it('a host dying during a re-route prefill: the moved stage goes on elsewhere with the same text', async () => {
    for (const paths of ['both', 'level1'] as const) {
      const wire = { armed: false, tripped: undefined as string | undefined };
      const hosts = [
        new FakeHost('a0', ['L0.0', 'L0.1']), new FakeHost('a1', ['L0.0', 'L0.1']),
        new PrefillTripHost('b0', ['L1.0', 'L1.1'], wire), new PrefillTripHost('b1', ['L1.0', 'L1.1'], wire),
      ];
      const { runtime, gen, failovers } = setup(hosts, runtimeWith(paths));
      const want = await rerouteReferenceText(runtime, 'hello', EVERY, 40, 7, SAMPLING);
      // Armed after the prompt's prefill: the next multi-position step on level 1 is a re-route's.
      const r = await gen.generate(request(runtime, 'hello'), () => { if (!wire.tripped) wire.armed = true; });
      assert.equal(r.text, want.text, paths);
      assert.ok(wire.tripped, `${paths}: a level-1 host died in a re-route prefill`);
      assert.ok(r.replays >= 1 && failovers.some((f) => f.startsWith('L1.')), `${paths}: ${failovers.join(' ')}`);
      assert.ok(!r.hosts.includes(wire.tripped));
    }
  });

  it('a host dying after a re-route: the new session is replayed from its own prefill, same text', async () => {
    // The doomed host fails its next step, or the third (re-routes come every 4 tokens: before the next).
    for (const extra of [0, 2]) {
      const hosts = hostsFor();
      const { runtime, gen, reroutes } = setup(hosts);
      const want = await rerouteReferenceText(runtime, 'hello', EVERY, 40, 7, SAMPLING);
      let doomed: FakeHost | undefined;
      const r = await gen.generate(request(runtime, 'hello'), (_t, info) => {
        if (reroutes.length === 1 && !doomed) {
          doomed = hosts.find((h) => h.peerId === info.hosts[1]) as FakeHost;
          doomed.opts.dieAfterSteps = doomed.steps + extra;
        }
      });
      assert.equal(r.text, want.text, `extra ${extra}`);
      assert.ok(doomed?.dead, 'the new level-1 host died');
      assert.ok(r.replays >= 1);
    }
  });

  it('PathSession.reroute refuses a session that does not record its inputs', () => {
    const pool = createReplicaPool({ model: 'toy' }, { discovery: new FakeDiscovery([]), balancer: new ReplicaBalancer(), connect: () => { throw new Error('unused'); }, log: silentLogger });
    const s = new PathSession({ path: ['L0.0', 'L1.0'], maxLength: 8, dModel: 4 }, { pool, log: silentLogger });
    assert.throws(() => s.reroute(['L0.1', 'L1.0'], 0), /records its inputs/);
    pool.close();
  });
});
