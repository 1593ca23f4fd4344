/**
 * The replica pool's use of probes (router/replica-pool.ts, `verify`): a replica gets work only after
 * its probe passes, one probe at a time per replica, again at random times; a mismatch distrusts it
 * for a while whatever it announces; a failed probe call strikes it like any failed call.
 */
import { waitFor } from '../../helpers/wait-for.ts';
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { NoLiveReplicaError } from '../../../shared/errors.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { ExpertClient } from '../../../shared/transport-types.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { StageSession } from '../../../router/stage-session.ts';
import type { VerifyResult } from '../../../shared/model/probe-verifier.ts';
import { D, FakeHost, StaticDiscovery } from './fakes.ts';

type Behaviour = 'ok' | 'mismatch' | 'throw';

function setup(behaviour: Record<string, Behaviour>, o: { verifyEveryMs?: number; distrustMs?: number; probeGate?: Promise<void> } = {}) {
  const d = new StaticDiscovery();
  const hosts = Object.keys(behaviour).map((p) => new FakeHost(p, ['E']));
  d.answer = hosts.map((h) => h.record());
  let offset = 0;
  const probes: string[] = [];
  const outcomes: string[] = [];
  const peerOf = new Map<ExpertClient, string>();
  let landed: (() => void)[] = [];
  const pool = createReplicaPool({ model: 'toy', cacheTtlMs: 1000, noReplicaWaitMs: 100, pollMs: 10, verifyEveryMs: o.verifyEveryMs ?? 1000, distrustMs: o.distrustMs ?? 5000 }, {
    discovery: d, balancer: new ReplicaBalancer({ strikesToBan: 1, banBaseMs: 60_000 }), log: silentLogger,
    clock: () => Date.now() + offset,
    connect: (a) => {
      const h = hosts.find((x) => x.grpc === a) as FakeHost;
      const cl = h.client();
      peerOf.set(cl, h.peerId);
      return cl;
    },
    random: () => 0, // re-checks at 0.5 x verifyEveryMs
    verify: async (expertId, client): Promise<VerifyResult> => {
      const peer = peerOf.get(client) as string;
      probes.push(`${expertId} ${peer}`);
      if (o.probeGate) await o.probeGate;
      const b = behaviour[peer];
      if (b === 'throw') throw new Error('connection reset');
      return b === 'ok' ? { type: 'ok' } : { type: 'mismatch', got: [1], want: [2] };
    },
    onVerified: (expertId, peerId, result) => outcomes.push(`${expertId} ${peerId} ${result}`),
    onLiveReplicas: () => { const w = landed; landed = []; for (const r of w) r(); },
  });
  /** Resolves once the next discovery refresh (or distrust) has been applied to the balancer. */
  const refreshLanded = () => new Promise<void>((r) => { landed.push(r); });
  return { d, hosts, pool, probes, outcomes, behaviour, refreshLanded, advance: (ms: number) => { offset += ms; } };
}

describe('replica verification by probe', () => {
  it('probes a replica before its first work, once even for concurrent requests, and again after the interval', async () => {
    let release!: () => void;
    const probeGate = new Promise<void>((r) => { release = r; });
    const { pool, probes, outcomes, advance } = setup({ h1: 'ok' }, { probeGate });
    const all = Promise.all(Array.from({ length: 5 }, () => pool.acquire('E')));
    // The probe is held until every request has come as far as it can (the fakes answer in
    // microtasks, so one macrotask turn runs them all); only then does it pass.
    await waitFor(() => 'the first probe', () => probes.length > 0);
    await new Promise<void>((r) => setImmediate(r));
    release();
    const got = await all;
    assert.deepEqual(got.map((r) => r.peerId), ['h1', 'h1', 'h1', 'h1', 'h1']);
    assert.deepEqual(probes, ['E h1'], 'one probe shared by five requests');
    await pool.acquire('E');
    advance(400);
    await pool.acquire('E');
    assert.equal(probes.length, 1, 'a passed probe holds for 0.5 x verifyEveryMs (random() = 0)');
    advance(200);
    await pool.acquire('E');
    assert.equal(probes.length, 2, 'then the replica is checked again');
    assert.deepEqual(outcomes, ['E h1 ok', 'E h1 ok']);
  });

  it('a replica whose output fails the probe gets no work for distrustMs, whatever it announces', async () => {
    const { d, hosts, pool, probes, outcomes, behaviour, advance, refreshLanded } = setup({ bad: 'mismatch', good: 'ok' });
    for (let i = 0; i < 10; i++) assert.equal((await pool.acquire('E')).peerId, 'good');
    assert.ok(outcomes.includes('E bad mismatch'));
    assert.deepEqual((await pool.view(['E'])).E.map((r) => r.peerId), ['good'], '/v1/swarm leaves it out');
    // A re-announcement (higher seq) reinstates a banned replica, but not a distrusted one.
    d.answer = [{ ...hosts[0].record(), seq: 2 }, hosts[1].record()];
    advance(1500); // past the discovery cache (1 s), within distrustMs (5 s)
    let landed = refreshLanded();
    await pool.acquire('E');
    await landed; // the background refresh
    for (let i = 0; i < 10; i++) assert.equal((await pool.acquire('E')).peerId, 'good');
    assert.deepEqual(probes.filter((p) => p === 'E bad'), ['E bad'], 'not even probed while distrusted');
    // After distrustMs the replica is probed again before any work; fixed, it serves.
    behaviour.bad = 'ok';
    advance(5000);
    landed = refreshLanded();
    await pool.acquire('E');
    await landed;
    const peers = new Set<string>();
    for (let i = 0; i < 10; i++) peers.add((await pool.acquire('E')).peerId);
    assert.ok(peers.has('bad'), 'probed again and trusted once it passes');
    assert.equal(outcomes.filter((x) => x === 'E bad ok').length, 1);
  });

  it('when every replica fails its probe, the request gets NoLiveReplicaError (503), not wrong output', async () => {
    const { pool } = setup({ b1: 'mismatch', b2: 'mismatch' });
    await assert.rejects(pool.acquire('E'), (e: unknown) => e instanceof NoLiveReplicaError && e.http === 503);
  });

  it('a probe call that fails strikes the replica like any failed call', async () => {
    const { pool, outcomes } = setup({ flaky: 'throw', good: 'ok' });
    for (let i = 0; i < 5; i++) assert.equal((await pool.acquire('E')).peerId, 'good');
    assert.deepEqual(outcomes.filter((x) => x.startsWith('E flaky')), ['E flaky error'], 'struck and banned after one failure (strikesToBan 1)');
  });

  it('a session on a host that fails a later re-check moves to a trusted replica at its next step, same outputs', async () => {
    const { pool, behaviour, advance, hosts } = setup({ h1: 'ok', h2: 'ok' });
    const x = (p: number) => ({ data: Float32Array.from({ length: D }, (_, i) => Math.sin(p + i)), dims: [1, 1, D] });
    const run = async (s: StageSession, from: number, to: number) => {
      const out: number[] = [];
      for (let p = from; p < to; p++) out.push(...(await s.step(x(p), p, { deadlineMs: Date.now() + 10_000 })).data);
      return out;
    };
    const ref = new StageSession({ expertId: 'E', maxLength: 32, dModel: D }, { pool, log: silentLogger });
    const reference = await run(ref, 0, 8);
    ref.close();
    const s = new StageSession({ expertId: 'E', maxLength: 32, dModel: D }, { pool, log: silentLogger });
    const first = await run(s, 0, 4);
    const bad = s.host as string;
    behaviour[bad] = 'mismatch';
    advance(600); // its probe no longer holds (0.5 x verifyEveryMs)
    // A new request's acquire re-probes it. Which replica the balancer offers next depends on the
    // throughputs it measured, so this request has already failed on the other one (`exclude`): it
    // gets `bad`, whose probe now fails, and then nothing (NoLiveReplicaError after the bounded wait).
    const other = bad === 'h1' ? 'h2' : 'h1';
    await assert.rejects(pool.acquire('E', { exclude: new Set([other]) }), NoLiveReplicaError);
    const others = new Set<string>();
    for (let i = 0; i < 4; i++) others.add((await pool.acquire('E')).peerId);
    assert.equal(pool.trusted('E', bad), false);
    assert.ok(!others.has(bad));
    const rest = await run(s, 4, 8);
    assert.notEqual(s.host, bad, 'moved');
    assert.equal(s.replays, 1, 'by replaying its history');
    assert.deepEqual([...first, ...rest], reference, 'the same outputs as an undisturbed session');
    assert.equal(hosts.find((h) => h.peerId === bad)?.activeSessions, 0, 'its session on the distrusted host was closed');
  });
});

