/**
 * ReplicaPool.readiness (what GET /readyz reports): an expert is served once one of its replicas may
 * get work now — live and, with verification, past its manifest probe. Discovery alone is not
 * enough, and the pool probes newly discovered replicas by itself, so a router becomes ready
 * without traffic.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { SwarmpathError } from '../../../shared/errors.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { ExpertClient } from '../../../shared/transport-types.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import type { VerifyResult } from '../../../shared/model/probe-verifier.ts';
import { FakeHost, StaticDiscovery } from './fakes.ts';

type Behaviour = 'ok' | 'mismatch' | 'throw';

/** A pool over `hosts` (peer → experts); probes answer by `behaviour` once `openProbes()` is called. */
function setup(hosts: Record<string, string[]>, behaviour: Record<string, Behaviour>, o: { verify?: boolean } = {}) {
  const d = new StaticDiscovery();
  const fleet = Object.entries(hosts).map(([p, ex]) => new FakeHost(p, ex));
  d.answer = fleet.map((h) => h.record());
  let openProbes!: () => void;
  const gate = new Promise<void>((r) => { openProbes = r; });
  const outcomes: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const peerOf = new Map<ExpertClient, string>();
  const verify = async (expertId: string, client: ExpertClient): Promise<VerifyResult> => {
    await gate;
    const b = behaviour[peerOf.get(client) as string];
    if (b === 'throw') throw new SwarmpathError('UNAVAILABLE', 'connection reset');
    return b === 'ok' ? { type: 'ok' } : { type: 'mismatch', got: [1], want: [2] };
  };
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: 100, pollMs: 10 }, {
    discovery: d, balancer: new ReplicaBalancer({ strikesToBan: 1, banBaseMs: 60_000 }), log: silentLogger,
    connect: (a) => {
      const h = fleet.find((x) => x.grpc === a) as FakeHost;
      const cl = h.client();
      peerOf.set(cl, h.peerId);
      return cl;
    },
    ...(o.verify === false ? {} : { verify }),
    onVerified: (expertId, peerId, result) => {
      outcomes.push(`${expertId} ${peerId} ${result}`);
      for (const w of waiters.filter((x) => outcomes.length >= x.n)) w.resolve();
    },
  });
  /** Resolves once `n` probes have finished. */
  const probed = (n: number) => new Promise<void>((resolve) => {
    if (outcomes.length >= n) resolve();
    else waiters.push({ n, resolve });
  });
  return { pool, fleet, outcomes, openProbes, probed };
}

describe('replica pool readiness', () => {
  it('a discovered replica counts only once it passed its probe, which runs without any request', { timeout: 5000 }, async () => {
    const { pool, fleet, outcomes, openProbes, probed } = setup({ a: ['E0', 'E1'], b: ['E1'] }, { a: 'ok', b: 'ok' });
    pool.warm(['E0', 'E1']);
    assert.deepEqual(await pool.readiness(['E0', 'E1']), { ready: false, missing: ['E0', 'E1'] }, 'discovered, not verified');
    openProbes();
    await probed(3);
    assert.deepEqual(outcomes.sort(), ['E0 a ok', 'E1 a ok', 'E1 b ok'], 'every discovered replica was probed once, in the background');
    assert.deepEqual(await pool.readiness(['E0', 'E1']), { ready: true, missing: [] });
    assert.equal(fleet.reduce((n, h) => n + h.opened, 0), 0, 'no session was opened');
  });

  it('a replica that fails its probe never makes its expert ready; an honest one does', { timeout: 5000 }, async () => {
    const { pool, openProbes, probed } = setup({ bad: ['E0', 'E1'], good: ['E1'] }, { bad: 'mismatch', good: 'ok' });
    openProbes();
    await pool.readiness(['E0', 'E1']);
    await probed(3);
    assert.deepEqual(await pool.readiness(['E0', 'E1']), { ready: false, missing: ['E0'] });
  });

  it('a probe call that fails leaves the expert missing', { timeout: 5000 }, async () => {
    const { pool, openProbes, probed } = setup({ flaky: ['E0'] }, { flaky: 'throw' });
    openProbes();
    await pool.readiness(['E0']);
    await probed(1);
    assert.deepEqual(await pool.readiness(['E0']), { ready: false, missing: ['E0'] });
  });

  it('a verified replica that fails a call and is banned no longer counts', { timeout: 5000 }, async () => {
    const { pool, openProbes, probed } = setup({ a: ['E0'] }, { a: 'ok' });
    openProbes();
    await pool.readiness(['E0']);
    await probed(1);
    assert.equal((await pool.readiness(['E0'])).ready, true);
    assert.equal(pool.failed('E0', 'a', new SwarmpathError('UNAVAILABLE', 'gone')).type, 'banned');
    assert.deepEqual(await pool.readiness(['E0']), { ready: false, missing: ['E0'] });
  });

  it('without verification, a discovered live replica counts at once and nothing is probed', { timeout: 5000 }, async () => {
    const { pool, outcomes } = setup({ a: ['E0'], b: ['E1'] }, {}, { verify: false });
    assert.deepEqual(await pool.readiness(['E0', 'E1', 'E2']), { ready: false, missing: ['E2'] });
    assert.deepEqual(await pool.readiness(['E0', 'E1']), { ready: true, missing: [] });
    assert.deepEqual(outcomes, []);
  });

  it('a request waiting for a replica shares the background probe', { timeout: 5000 }, async () => {
    const { pool, outcomes, openProbes } = setup({ a: ['E0'] }, { a: 'ok' });
    pool.warm(['E0']);
    await pool.readiness(['E0']);
    const got = pool.acquire('E0');
    openProbes();
    assert.equal((await got).peerId, 'a');
    assert.deepEqual(outcomes, ['E0 a ok'], 'one probe');
  });
});
