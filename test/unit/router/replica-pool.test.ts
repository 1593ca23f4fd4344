import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { NoLiveReplicaError, SwarmpathError } from '../../../shared/errors.ts';
import type { Discovery, HostRecord } from '../../../shared/transport-types.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { FakeHost } from './fakes.ts';

/** A discovery whose answers the test sets; counts queries; can be slowed down. */
class ScriptedDiscovery implements Discovery {
  answer: HostRecord[] = [];
  queries = 0;
  /** While set, queries wait for it (a slow DHT). */
  gate: Promise<void> | undefined;
  /** Called at each query with its number (1, 2, …), before it answers. */
  onQuery: ((n: number) => void) | undefined;
  /** The options of the last query, and the hosts forgotten (their records to be fetched again). */
  lastOpts: { fresh?: boolean; cachedRecords?: boolean } | undefined;
  forgotten: string[] = [];
  forget(peerId: string): void { this.forgotten.push(peerId); }
  async replicas(_model: string, expertId: string, opts?: { fresh?: boolean; cachedRecords?: boolean }): Promise<HostRecord[]> {
    this.lastOpts = { fresh: opts?.fresh, cachedRecords: opts?.cachedRecords };
    this.queries++;
    this.onQuery?.(this.queries);
    if (this.gate) await this.gate;
    return this.answer.filter((r) => r.experts.includes(expertId)).map((r) => ({ ...r }));
  }
  async allHosts(): Promise<HostRecord[]> { return this.answer; }
}

/**
 * A pool over h1, h2 serving E; `ttl` 'default': the pool's default discovery cache TTL.
 * `refreshLanded()` resolves once the next discovery refresh has been applied (onLiveReplicas).
 */
function setup(ttl: number | 'default' = 1000, frozen = false) {
  const d = new ScriptedDiscovery();
  const hosts = [new FakeHost('h1', ['E']), new FakeHost('h2', ['E'])];
  d.answer = hosts.map((h) => h.record());
  const balancer = new ReplicaBalancer({ strikesToBan: 1, banBaseMs: 60_000 });
  const start = Date.now();
  let offset = 0;
  let landed: (() => void)[] = [];
  const pool = createReplicaPool({ model: 'toy', ...(ttl !== 'default' ? { cacheTtlMs: ttl } : {}), noReplicaWaitMs: 100, pollMs: 10 }, {
    // `frozen`: the clock moves only by advance(), so cache ages do not depend on how busy the machine is.
    discovery: d, balancer, log: silentLogger, clock: () => (frozen ? start : Date.now()) + offset,
    connect: (a) => (hosts.find((h) => h.grpc === a) as FakeHost).client(),
    onLiveReplicas: () => { const w = landed; landed = []; for (const r of w) r(); },
  });
  const refreshLanded = () => new Promise<void>((r) => { landed.push(r); });
  return { d, hosts, balancer, pool, refreshLanded, advance: (ms: number) => { offset += ms; } };
}

describe('replica pool', () => {
  it('searches providers anew with records kept until they expire, and forgets a host whose call failed as gone or moved', async () => {
    const { d, pool } = setup(1000);
    await pool.acquire('E');
    assert.deepEqual(d.lastOpts, { fresh: true, cachedRecords: true });
    pool.failed('E', 'h2', new SwarmpathError('DEADLINE_EXCEEDED', 'slow'));
    assert.deepEqual(d.forgotten, [], 'a slow host keeps its record');
    pool.failed('E', 'h1', new SwarmpathError('UNAVAILABLE', 'connection refused'));
    pool.failed('E', 'h2', new SwarmpathError('UNKNOWN_EXPERT', 'not served here'));
    assert.deepEqual(d.forgotten, ['h1', 'h2']);
  });

  it('caches discovery and refreshes a stale cache in the background', async () => {
    const { d, pool, advance, refreshLanded } = setup(1000);
    assert.equal((await pool.acquire('E')).peerId, 'h1');
    assert.equal((await pool.acquire('E')).peerId, 'h2');
    assert.equal(d.queries, 1);
    advance(1500);
    let release!: () => void;
    d.gate = new Promise<void>((r) => { release = r; });
    const landed = refreshLanded();
    // The refresh is blocked on the gate: the acquire can only resolve from the stale cache.
    await pool.acquire('E');
    assert.equal(d.queries, 2, 'a refresh started');
    release();
    await landed;
    assert.equal(d.queries, 2);
  });

  it('reuses discovery results for 30 s by default', async () => {
    const { d, pool, advance } = setup('default');
    await pool.acquire('E');
    advance(29_000);
    await pool.acquire('E');
    await pool.view(['E']);
    assert.equal(d.queries, 1, 'no query within 30 s');
    advance(1000);
    await pool.acquire('E');
    await pool.view(['E']);
    assert.equal(d.queries, 2, 'a background refresh after 30 s');
  });

  it('with a long TTL, a failed call refreshes discovery at the next use', async () => {
    const { d, pool, hosts } = setup(60_000);
    await pool.acquire('E');
    d.answer = [hosts[1].record()];
    pool.failed('E', 'h1', new SwarmpathError('UNAVAILABLE', 'gone'));
    await pool.acquire('E');
    assert.equal(d.queries, 2, 'the failure made the next use query again');
  });

  it('with a long TTL, an expert with no replica to pick is looked up again (a new replica is found at once)', async () => {
    const { d, pool, hosts } = setup(60_000);
    d.answer = [hosts[0].record()];
    await pool.acquire('E');
    pool.failed('E', 'h1', new SwarmpathError('UNAVAILABLE', 'gone')); // banned for 60 s
    d.answer = [hosts[1].record()];
    assert.equal((await pool.acquire('E', { exclude: new Set(['h1']) })).peerId, 'h2');
  });

  it('with a long TTL, an expert with a banned replica is looked up every 5 s (its re-announcement lifts the ban)', async () => {
    const { d, pool, hosts, balancer, advance, refreshLanded } = setup(60_000);
    await pool.acquire('E');
    pool.failed('E', 'h1', new SwarmpathError('UNAVAILABLE', 'gone')); // banned for 60 s
    await pool.acquire('E');
    assert.equal(d.queries, 2, 'the failure made the next use query again');
    d.answer = hosts.map((h) => ({ ...h.record(), seq: h.peerId === 'h1' ? 2 : 1 })); // h1 is back
    advance(4000);
    await pool.acquire('E');
    assert.equal(d.queries, 2);
    advance(1000);
    const landed = refreshLanded();
    await pool.view(['E']);
    assert.equal(d.queries, 3, 'refreshed 5 s later');
    await landed;
    assert.equal(balancer.isBanned('E', 'h1', Date.now() + 5000), false, 'reinstated by its re-announcement');
    advance(6000);
    await pool.view(['E']);
    assert.equal(d.queries, 3, 'every replica usable again: the long TTL holds');
  });

  it('an empty answer is reused for at most pollMs, not the TTL', async () => {
    const { d, pool, advance, hosts } = setup(60_000, true);
    d.answer = [];
    assert.deepEqual((await pool.view(['E'])).E, []);
    assert.equal(d.queries, 1);
    await pool.view(['E']);
    assert.equal(d.queries, 1, 'reused within pollMs (10 ms)');
    d.answer = [hosts[0].record()];
    advance(10);
    assert.deepEqual((await pool.view(['E'])).E.map((r) => r.peerId), ['h1']);
    assert.equal(d.queries, 2);
  });

  it('keeps unexpired replicas when a query comes back empty', async () => {
    const { d, pool, advance, refreshLanded } = setup(10);
    await pool.acquire('E');
    d.answer = [];
    advance(20);
    const landed = refreshLanded();
    await pool.acquire('E');
    await landed;
    assert.ok(['h1', 'h2'].includes((await pool.acquire('E')).peerId));
  });

  it('waits a bounded time, then throws NoLiveReplicaError', async () => {
    const { d, pool } = setup();
    d.answer = [];
    await assert.rejects(pool.acquire('E'), (e: unknown) => e instanceof NoLiveReplicaError && e.http === 503);
    assert.ok(d.queries >= 2, 'it polled discovery while waiting');
    // Bounded: noReplicaWaitMs (100) / pollMs (10) polls at most, plus the first lookup.
    assert.ok(d.queries <= 12, `polled ${d.queries} times`);
  });

  it('finds a replica that appears while it waits', async () => {
    const { d, pool, hosts } = setup();
    d.answer = [];
    // The replica appears while the request waits: at its third discovery query.
    d.onQuery = (n) => { if (n === 3) d.answer = [hosts[1].record()]; };
    assert.equal((await pool.acquire('E')).peerId, 'h2');
  });

  it('a failure strikes (bans here) and a re-announcement reinstates', async () => {
    const { d, pool, balancer, hosts, advance, refreshLanded } = setup(10);
    await pool.acquire('E');
    const outcome = pool.failed('E', 'h1', new SwarmpathError('UNAVAILABLE', 'gone'));
    assert.equal(outcome.type, 'banned');
    for (let i = 0; i < 3; i++) assert.equal((await pool.acquire('E')).peerId, 'h2');
    // h1 publishes a newer record
    d.answer = hosts.map((h) => ({ ...h.record(), seq: h.peerId === 'h1' ? 2 : 1 }));
    advance(20);
    const landed = refreshLanded();
    await pool.acquire('E');
    await landed;
    assert.equal(balancer.isBanned('E', 'h1', Date.now()), false);
    const view = await pool.view(['E']);
    assert.deepEqual(view.E.map((v) => v.peerId).sort(), ['h1', 'h2']);
    // Reinstated on probation: before work it must answer an Info call (a record alone proves nothing).
    const infos = hosts[0].infos;
    assert.equal((await pool.acquire('E', { exclude: new Set(['h2']) })).peerId, 'h1');
    assert.equal(hosts[0].infos, infos + 1, 'probed once before its first work');
    await pool.acquire('E', { exclude: new Set(['h2']) });
    assert.equal(hosts[0].infos, infos + 1, 'and not again once it answered');
  });

  it('a re-announcement does not bring back a dead replica: its Info probe fails and it is banned again', async () => {
    const { d, pool, balancer, hosts, advance, refreshLanded } = setup(10);
    await pool.acquire('E');
    pool.failed('E', 'h1', new SwarmpathError('UNAVAILABLE', 'gone'));
    hosts[0].kill();
    d.answer = hosts.map((h) => ({ ...h.record(), seq: h.peerId === 'h1' ? 2 : 1 }));
    advance(20);
    const landed = refreshLanded();
    await pool.acquire('E');
    await landed;
    for (let i = 0; i < 4; i++) assert.equal((await pool.acquire('E')).peerId, 'h2');
    assert.equal(balancer.isBanned('E', 'h1', Date.now() + 30), true);
  });

  it('after a ban runs out, a replica must answer an Info probe before it gets work again', async () => {
    const { pool, hosts, advance, balancer } = setup();
    await pool.acquire('E');
    for (const h of hosts) assert.equal(pool.failed('E', h.peerId, new SwarmpathError('UNAVAILABLE', 'gone')).type, 'banned');
    hosts[0].kill();
    advance(61_000); // both bans ran out; no re-announcement
    const got = await pool.acquire('E');
    assert.equal(got.peerId, 'h2', 'the dead replica failed its probe and was passed over');
    assert.equal(hosts[0].infos, 1, 'the dead replica was probed once');
    assert.equal(hosts[1].infos, 1, 'the live replica was probed once');
    assert.equal(balancer.isBanned('E', 'h1', Date.now() + 61_000), true, 'a failed probe bans again');
    // The live replica passed: no more probes for it.
    await pool.acquire('E', { exclude: new Set(['h1']) });
    assert.equal(hosts[1].infos, 1);
  });

  it('a deadline exceeded does not strike', () => {
    const { pool } = setup();
    return pool.acquire('E').then(() => {
      assert.deepEqual(pool.failed('E', 'h1', new SwarmpathError('DEADLINE_EXCEEDED', 'slow')), { type: 'ignored' });
    });
  });

  it('acquire is cancelled by its signal', async () => {
    const { d, pool } = setup();
    d.answer = [];
    const ac = new AbortController();
    d.onQuery = (n) => { if (n === 2) ac.abort(); }; // while it waits for a replica
    await assert.rejects(pool.acquire('E', { signal: ac.signal }), (e: unknown) => e instanceof SwarmpathError && e.code === 'CANCELLED');
  });
});
