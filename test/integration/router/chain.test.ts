/**
 * Host-to-host forwarding (chained steps) with real host processes, real gRPC and real onnxruntime:
 * a three-stage path whose hosts push each step's output to the next host. Chained decoding gives
 * the router-driven tokens exactly; a host killed mid-chain is replayed elsewhere and the tokens do
 * not change; a push without the router's tag is refused and a replayed push cannot rewrite a
 * session's cache.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, test } from 'vitest';
import { startLocalHost, staticDiscovery, type LocalHost } from '../../../bench/local-hosts.ts';
import { createExpertClient, type GrpcExpertClient } from '../../../shared/grpc/client.ts';
import { encodeTensor } from '../../../shared/grpc/tensor-codec.ts';
import { silentLogger } from '../../../shared/log.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import type { ModelPackage } from '../../../shared/runtime-types.ts';
import { openModelRuntime } from '../../../router/model-runtime.ts';
import type { RouterRuntime } from '../../../router/runtime.ts';
import { PathSession, type ChainMode } from '../../../router/path-session.ts';
import type { StageEvents } from '../../../router/stage-session.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createReplicaPool, type ReplicaPool } from '../../../router/replica-pool.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

const PATH = ['L0.0', 'L1.0', 'L2.0'];
const D = 64;
let pkg: ModelPackage;
let runtime: RouterRuntime;
let pool: ReplicaPool;
/** L0.0; two replicas of L1.0; L2.0. */
let hosts: LocalHost[];

beforeAll(async () => {
  const dir = await synthFixture({ levels: [2, 2, 2] });
  pkg = await loadPackage(dir);
  hosts = await Promise.all([['L0.0'], ['L1.0'], ['L1.0'], ['L2.0']].map((e) => startLocalHost(dir, e)));
  runtime = await openModelRuntime({ pkg, threads: 1 });
  pool = createReplicaPool({ model: pkg.manifest.name }, {
    discovery: staticDiscovery(pkg.manifest.name, hosts), balancer: new ReplicaBalancer(), connect: (a) => createExpertClient(a), log: silentLogger,
  });
}, 120_000);

afterAll(async () => {
  pool?.close();
  await runtime?.release();
  await Promise.all((hosts ?? []).map((h) => h.child.stop()));
});

const bytes = (s: string) => new TextEncoder().encode(s);
const opts = () => ({ deadlineMs: Date.now() + 30_000 });

/** Greedy tokens of `steps` decode steps after `prompt`; `atStep` runs before step i (with the session). */
async function decode(chain: ChainMode, prompt: Uint8Array, steps: number, atStep?: (i: number, ps: PathSession) => void | Promise<void>, events?: StageEvents) {
  const ps = new PathSession({ path: PATH, maxLength: prompt.length + steps + 1, dModel: D, chain }, { pool, log: silentLogger, events });
  const sample = runtime.sampler(0, { temperature: 0, topP: 1 });
  try {
    let tok = sample(await runtime.lastLogits(await ps.forward(await runtime.embed(prompt, 0), 0, opts())));
    const tokens = [tok];
    for (let i = 0; i < steps; i++) {
      await atStep?.(i, ps);
      const pos = prompt.length + i;
      tok = sample(await runtime.lastLogits(await ps.forward(await runtime.embed([tok], pos), pos, opts())));
      tokens.push(tok);
    }
    return { tokens, stats: { ...ps.chainStats }, replays: ps.replays(), hosts: ps.hosts() };
  } finally {
    ps.close();
  }
}

test('chained steps give exactly the router-driven tokens, and really go host to host', async () => {
  for (const prompt of ['The swarm ', 'Experts on a path: ']) {
    const relay = await decode('off', bytes(prompt), 24);
    const chained = await decode('on', bytes(prompt), 24);
    assert.deepEqual(chained.tokens, relay.tokens, prompt);
    assert.equal(relay.stats.chainedSteps, 0);
    // The stages open their sessions together, then the prefill and every decode step go chained; none falls back.
    assert.equal(chained.stats.chainedSteps, 25);
    assert.equal(chained.stats.fallbacks, 0);
  }
  // `auto` relays when every host is on this machine (where relaying costs less).
  const auto = await decode('auto', bytes('The swarm '), 8);
  assert.equal(auto.stats.chainedSteps, 0);
});

test('a push without the router\'s tag is refused, and a replayed push cannot rewrite the cache', async () => {
  const client: GrpcExpertClient = createExpertClient(hosts[1].grpc);
  const pushStream = client.openPushStream();
  try {
    const s = await client.openSession('L1.0', 16, { ...opts(), acceptPush: true });
    assert.ok(s.chain, 'a session opened with acceptPush takes pushed steps');
    const x = { data: new Float32Array(2 * D).map((_, i) => Math.sin(i)), dims: [1, 2, D] };
    const y = { data: new Float32Array(2 * D).map((_, i) => Math.cos(i) * 3), dims: [1, 2, D] };
    const z = { data: new Float32Array(D).map((_, i) => Math.sin(i * 0.3)), dims: [1, 1, D] };
    const refusals: string[] = [];
    const refused = () => new Promise<string>((resolve) => {
      pushStream.push({ sessionId: (s as unknown as { sessionId: string }).sessionId, tag: Buffer.alloc(16, 7), pushId: 99, stepId: 999, position: 0, hidden: encodeTensor(y), next: [] },
        (reason) => { refusals.push(reason); resolve(reason); });
    });
    // A made-up tag: refused, and nothing runs.
    assert.match(await refused(), /push tag does not match/);

    // The first step arrives by push with the router's tag and runs.
    const first = s.chain.expect(0, 2, 41, opts());
    const push = { sessionId: first.target.sessionId, tag: Buffer.from(first.target.tag), pushId: 41, stepId: first.target.stepId, position: 0, next: [] };
    pushStream.push({ ...push, hidden: encodeTensor(x) }, (r) => refusals.push(r));
    const r1 = await first.result;
    assert.equal(r1.hidden.dims[1], 2);
    assert.ok(r1.inputDigest && r1.inputDigest.length === 32, 'a pushed step reports the digest of its input');
    // The same push again, now carrying another tensor: its tag is valid but it would rewrite
    // position 0. A refused push sent after it on the same stream is answered once it was taken in.
    pushStream.push({ ...push, hidden: encodeTensor(y) }, (r) => refusals.push(r));
    await refused();
    const after = await s.step(z, 2, opts());
    s.close();

    // Reference: the same expert fed x then z in a plain session.
    const ref = await client.openSession('L1.0', 16, opts());
    await ref.step(x, 0, opts());
    const want = await ref.step(z, 2, opts());
    ref.close();
    assert.deepEqual([...after.data], [...want.data], 'the replayed push did not touch the cache');
    assert.equal(refusals.length, 2, `only the two made-up pushes were refused: ${refusals.join('; ')}`);
  } finally {
    pushStream.close();
    client.close();
  }
});

test('a host killed mid-chain: its stage is replayed on another replica and the tokens do not change', async () => {
  const prompt = bytes('Failover by replay ');
  const reference = await decode('off', prompt, 30);
  let victim: LocalHost | undefined;
  let armed = false;
  // At step 12 stage 1's host is frozen, so the chained step is surely in flight there when it
  // dies: it is killed once stage 0 has answered (and pushed to it).
  const run = await decode('on', prompt, 30, (i, ps) => {
    if (i !== 12) return;
    victim = hosts.find((h) => h.peerId === ps.hosts()[1]);
    assert.ok(victim, `stage 1 runs on one of the test's hosts (${ps.hosts()[1]})`);
    victim.child.proc.kill('SIGSTOP');
    armed = true;
  }, {
    onCall(expertId) {
      if (!armed || expertId !== 'L0.0') return;
      armed = false;
      victim!.child.kill();
    },
  });
  await victim?.child.exited;
  assert.deepEqual(run.tokens, reference.tokens);
  assert.ok(run.replays >= 1, 'stage 1 moved to the other replica by replay');
  assert.notEqual(run.hosts[1], victim?.peerId);
  assert.ok(run.stats.fallbacks >= 1, 'the chained step that met the dead host was finished from the router');
  assert.ok(run.stats.chainedSteps >= 13, `chained steps: ${run.stats.chainedSteps}`);
});
