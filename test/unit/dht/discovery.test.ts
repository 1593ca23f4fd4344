import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createDiscovery } from '../../../shared/dht/discovery.ts';
import { decodeHostRecord, signHostRecord, verifyHostRecord } from '../../../shared/dht/host-record.ts';
import { expertCid, hostRecordKey, swarmHostsCid } from '../../../shared/dht/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { createMemoryDht, type MemoryDht, type MemoryPeer } from './memory-dht.ts';

const T0 = 1_800_000_000_000;

function rec(peerId: string, over: Partial<HostRecord> = {}): HostRecord {
  return {
    peerId, model: 'tiny', experts: ['L0.0'], grpc: `127.0.0.1:${peerId.length}`, state: 'ONLINE', version: 'v',
    device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 1, auto: false,
    seq: 1, expiresAt: T0 + 10_000, ...over,
  };
}

/** A host that put `r` and provided its expert and swarm CIDs. */
async function announce(dht: MemoryDht, r: Partial<HostRecord> = {}): Promise<MemoryPeer> {
  const p = await dht.peer();
  const full = rec(p.peerId, r);
  await p.put(hostRecordKey(p.peerId), await signHostRecord(full, p.privateKey));
  for (const e of full.experts) await p.provide(expertCid(full.model, e));
  await p.provide(swarmHostsCid(p.peerId));
  return p;
}

test('keeps ONLINE unexpired records listing the expert; drops the rest', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  const a = await announce(dht);
  await announce(dht, { state: 'DRAINING' });
  const c = await announce(dht, { expiresAt: T0 + 500 });
  // Provides L0.0 but its record no longer lists it (it moved to L0.1).
  const d = await announce(dht, { experts: ['L0.1'] });
  dht.addProvider(expertCid('tiny', 'L0.0'), d.peerId);
  // A provider that never put a record.
  dht.addProvider(expertCid('tiny', 'L0.0'), (await dht.peer()).peerId);
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  assert.deepEqual((await disc.replicas('tiny', 'L0.0')).map((r) => r.peerId).sort(), [a.peerId, c.peerId].sort());
  now = T0 + 1000;
  assert.deepEqual((await disc.replicas('tiny', 'L0.0', { fresh: true })).map((r) => r.peerId), [a.peerId]);
  assert.deepEqual((await disc.allHosts({ fresh: true })).map((r) => r.peerId).sort(), [a.peerId, d.peerId].sort());
});

test('drops forged records even when a peer hands them over unvalidated', async () => {
  const dht = createMemoryDht(() => T0);
  const victim = await dht.peer();
  const forger = await dht.peer();
  dht.raw(hostRecordKey(victim.peerId), await signHostRecord(rec(victim.peerId, { grpc: 'evil:1' }), forger.privateKey));
  dht.addProvider(expertCid('tiny', 'L0.0'), victim.peerId);
  const honest = await announce(dht);
  dht.unvalidatedGets = true;
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  assert.deepEqual((await disc.replicas('tiny', 'L0.0')).map((r) => r.peerId), [honest.peerId]);
});

test('a provider whose record never arrives costs at most recordTimeoutMs', async () => {
  const dht = createMemoryDht(() => T0);
  const good = await announce(dht);
  const stuck = await announce(dht);
  dht.hang.add(stuck.peerId);
  const disc = createDiscovery({ recordTimeoutMs: 150, allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  const t = performance.now();
  const got = await disc.replicas('tiny', 'L0.0');
  const ms = performance.now() - t;
  assert.deepEqual(got.map((r) => r.peerId), [good.peerId]);
  assert.ok(ms >= 140 && ms < 2000, `took ${ms} ms`);
});

test('results are cached for cacheMs; fresh bypasses; concurrent lookups share one search', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  await announce(dht);
  const disc = createDiscovery({ cacheMs: 2000, allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  await Promise.all([disc.replicas('tiny', 'L0.0'), disc.replicas('tiny', 'L0.0')]);
  assert.equal(dht.calls.findProviders, 1);
  const late = await announce(dht);
  now += 1000;
  assert.equal((await disc.replicas('tiny', 'L0.0')).length, 1, 'served from cache');
  assert.equal(dht.calls.findProviders, 1);
  assert.equal((await disc.replicas('tiny', 'L0.0', { fresh: true })).length, 2);
  assert.equal(dht.calls.findProviders, 2);
  now += 2500;
  assert.ok((await disc.replicas('tiny', 'L0.0')).some((r) => r.peerId === late.peerId));
  assert.equal(dht.calls.findProviders, 3);
  disc.clear();
  await disc.replicas('tiny', 'L0.0');
  assert.equal(dht.calls.findProviders, 4);
});

test('a cached result is re-filtered by expiry at every call', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  await announce(dht, { expiresAt: T0 + 100 });
  const disc = createDiscovery({ cacheMs: 60_000, allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  assert.equal((await disc.replicas('tiny', 'L0.0')).length, 1);
  now += 200;
  assert.deepEqual(await disc.replicas('tiny', 'L0.0'), []);
});

test("one caller's abort rejects only that caller", async () => {
  const dht = createMemoryDht(() => T0);
  await announce(dht);
  const stuck = await announce(dht);
  dht.hang.add(stuck.peerId);
  const disc = createDiscovery({ recordTimeoutMs: 200, allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  const ac = new AbortController();
  const first = disc.replicas('tiny', 'L0.0', { signal: ac.signal });
  const second = disc.replicas('tiny', 'L0.0');
  ac.abort(new Error('gave up'));
  await assert.rejects(first, /gave up/);
  assert.equal((await second).length, 1);
});

test('cachedRecords: a new provider search each time, but each record fetched once until it expires', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  await announce(dht);
  await announce(dht);
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  const opts = { fresh: true, cachedRecords: true } as const;
  assert.equal((await disc.replicas('tiny', 'L0.0', opts)).length, 2);
  assert.deepEqual([dht.calls.findProviders, dht.calls.get], [1, 2]);
  now += 5_000;
  assert.equal((await disc.replicas('tiny', 'L0.0', opts)).length, 2);
  assert.deepEqual([dht.calls.findProviders, dht.calls.get], [2, 2], 'records come from the cache');
  assert.equal((await disc.replicas('tiny', 'L0.0', { fresh: true })).length, 2);
  assert.deepEqual([dht.calls.findProviders, dht.calls.get], [3, 4], 'a fresh lookup fetches records again');
  now += 6_000;
  assert.deepEqual(await disc.replicas('tiny', 'L0.0', opts), [], 'expired records are neither used nor kept');
});

test('cachedRecords: a cached record that does not list the expert is fetched again, at most once per 30 s', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  const mover = await announce(dht, { experts: ['L0.1'], expiresAt: T0 + 600_000 });
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  const opts = { fresh: true, cachedRecords: true } as const;
  assert.equal((await disc.replicas('tiny', 'L0.1', opts)).length, 1);
  // It moves to L0.0: a new record, and a provider entry for L0.0.
  await mover.put(hostRecordKey(mover.peerId), await signHostRecord(rec(mover.peerId, { experts: ['L0.0'], seq: 2, expiresAt: T0 + 600_000 }), mover.privateKey));
  await mover.provide(expertCid('tiny', 'L0.0'));
  const gets = dht.calls.get;
  assert.equal((await disc.replicas('tiny', 'L0.0', opts)).length, 1, 'found under its new expert');
  assert.equal(dht.calls.get, gets + 1);
  // Its old L0.1 provider entry lingers: the (now fresh) record is used, no GET for 30 s.
  assert.equal((await disc.replicas('tiny', 'L0.1', opts)).length, 0);
  assert.equal((await disc.replicas('tiny', 'L0.1', opts)).length, 0);
  assert.equal(dht.calls.get, gets + 2, 'one re-check of the L0.1 mismatch');
  now += 31_000;
  await disc.replicas('tiny', 'L0.1', opts);
  assert.equal(dht.calls.get, gets + 3, 'and again after 30 s');
});

test('cachedRecords: a provider whose record cannot be had is asked again only after 10 s', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  await announce(dht, { expiresAt: T0 + 600_000 });
  // Provides its expert before any record is stored (a host that has just joined).
  const early = await dht.peer();
  await early.provide(expertCid('tiny', 'L0.0'));
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  const opts = { fresh: true, cachedRecords: true } as const;
  assert.equal((await disc.replicas('tiny', 'L0.0', opts)).length, 1);
  const gets = dht.calls.get;
  now += 5_000;
  assert.equal((await disc.replicas('tiny', 'L0.0', opts)).length, 1);
  assert.equal(dht.calls.get, gets, 'neither record fetched again');
  await early.put(hostRecordKey(early.peerId), await signHostRecord(rec(early.peerId, { expiresAt: T0 + 600_000 }), early.privateKey));
  now += 6_000;
  assert.equal((await disc.replicas('tiny', 'L0.0', opts)).length, 2, 'found once the 10 s are over');
  assert.equal(dht.calls.get, gets + 1);
});

test('uses hosts announcing loopback, private or named addresses only when allowed', async () => {
  const dht = createMemoryDht(() => T0);
  const pub = await announce(dht, { grpc: '8.8.8.8:50051' });
  const loop = await announce(dht, { grpc: '127.0.0.1:50051' });
  const lan = await announce(dht, { grpc: '192.168.1.20:50051' });
  const named = await announce(dht, { grpc: 'victim.example.org:443' });
  const open = createDiscovery({}, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  assert.deepEqual((await open.replicas('tiny', 'L0.0')).map((r) => r.peerId), [pub.peerId]);
  assert.deepEqual((await open.allHosts()).map((r) => r.peerId), [pub.peerId]);
  assert.equal(await open.record(loop.peerId), undefined);
  assert.equal((await open.record(pub.peerId))?.grpc, '8.8.8.8:50051');
  const priv = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  assert.deepEqual((await priv.replicas('tiny', 'L0.0')).map((r) => r.peerId).sort(),
    [pub.peerId, loop.peerId, lan.peerId, named.peerId].sort());
});

test('a peer forgotten while its record is being fetched is left out; the lookup does not fail', async () => {
  const dht = createMemoryDht(() => T0);
  const a = await announce(dht);
  const b = await announce(dht);
  const reader = await dht.peer();
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let started!: () => void;
  const fetching = new Promise<void>((r) => { started = r; });
  const node = {
    findProviders: reader.findProviders.bind(reader),
    get: async (key: Uint8Array, o?: { signal?: AbortSignal }) => { started(); await gate; return reader.get(key, o); },
  };
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node, log: silentLogger, clock: () => T0 });
  const lookup = disc.replicas('tiny', 'L0.0', { fresh: true });
  await fetching;
  disc.forget?.(a.peerId); // as the router does on UNKNOWN_EXPERT, while the fetch is in flight
  release();
  const got = (await lookup).map((r) => r.peerId);
  assert.ok(got.includes(b.peerId), `the other host is still found: ${got.join(',')}`);
});

test('a provider search that gets no answer in time rejects ("no answer" is not "no host") and is not cached; one that ends empty answers []', async () => {
  const dht = createMemoryDht(() => T0);
  const reader = await dht.peer();
  let silent = true;
  let searches = 0;
  const node = {
    // As SwarmDht's search does on a timeout: it returns quietly when its signal aborts.
    async *findProviders(cid: Parameters<typeof reader.findProviders>[0], o: { signal?: AbortSignal; enoughResponses?: number } = {}) {
      searches++;
      if (silent) { await new Promise((r) => o.signal?.addEventListener('abort', r, { once: true })); return; }
      yield* reader.findProviders(cid, o);
    },
    get: reader.get.bind(reader),
  };
  const disc = createDiscovery({ searchTimeoutMs: 100, allowPrivateAddresses: true }, { node, log: silentLogger, clock: () => T0 });
  await assert.rejects(disc.replicas('tiny', 'L0.0'), (err: Error & { code?: string }) => err.code === 'UNAVAILABLE' && /no answer within 100 ms/.test(err.message));
  silent = false;
  assert.deepEqual(await disc.replicas('tiny', 'L0.0'), [], 'the failure was not cached: a new search, which ends with no provider');
  assert.equal(searches, 2);
});

test('providers whose record GETs all time out are no answer (rejects); one record found absent is an answer', async () => {
  const dht = createMemoryDht(() => T0);
  const a = await announce(dht);
  const b = await announce(dht);
  dht.hang.add(a.peerId);
  dht.hang.add(b.peerId);
  const disc = createDiscovery({ recordTimeoutMs: 100, allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  await assert.rejects(disc.replicas('tiny', 'L0.0', { fresh: true }), /none of the 2 providers' records could be fetched in time/);
  // A provider that never put a record: its GET answers "not found", which is an answer.
  const c = createMemoryDht(() => T0);
  c.addProvider(expertCid('tiny', 'L0.0'), (await c.peer()).peerId);
  const disc2 = createDiscovery({ recordTimeoutMs: 100, allowPrivateAddresses: true }, { node: await c.peer(), log: silentLogger, clock: () => T0 });
  assert.deepEqual(await disc2.replicas('tiny', 'L0.0', { fresh: true }), []);
});

test('knownValues: the live records held, as signed; an expired one drops out', async () => {
  let now = T0;
  const dht = createMemoryDht(() => now);
  const a = await announce(dht);
  const b = await announce(dht, { expiresAt: T0 + 2_000 });
  const disc = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => now });
  assert.deepEqual(disc.knownValues(), []);
  await disc.replicas('tiny', 'L0.0', { fresh: true, cachedRecords: true });
  const peersOf = (values: Uint8Array[]) => Promise.all(values.map(async (v) => {
    const { record } = decodeHostRecord(v);
    // Shared bytes are the host's signed record: they verify under its own key.
    return (await verifyHostRecord(hostRecordKey(record.peerId), v, now)).peerId;
  }));
  assert.deepEqual((await peersOf(disc.knownValues())).sort(), [a.peerId, b.peerId].sort());
  now = T0 + 3_000;
  assert.deepEqual(await peersOf(disc.knownValues()), [a.peerId]);
});

test('learn: records shared by peers are verified and cached; forged, garbled or unreachable ones add nothing; a newer record held wins', async () => {
  const dht = createMemoryDht(() => T0);
  const a = await announce(dht);
  const b = await announce(dht, { experts: ['L0.1'] });
  const knower = await dht.peer();
  const knowerDisc = createDiscovery({ allowPrivateAddresses: true }, { node: knower, log: silentLogger, clock: () => T0 });
  await knowerDisc.replicas('tiny', 'L0.0', { fresh: true });
  await knowerDisc.replicas('tiny', 'L0.1', { fresh: true });
  dht.shares.set(knower.peerId, () => knowerDisc.knownValues());
  // A liar hands out a record of a host signed by another key, garbage, and an older record of `a`.
  const liar = await dht.peer();
  const victim = await dht.peer();
  const forged = await signHostRecord(rec(victim.peerId, { grpc: 'evil:1', seq: 9 }), liar.privateKey);
  const olderA = await signHostRecord(rec(a.peerId, { seq: 0, grpc: 'old:1' }), a.privateKey);
  dht.shares.set(liar.peerId, () => [forged, new TextEncoder().encode('not a record'), olderA]);
  const warnings: Record<string, unknown>[] = [];
  const log = { ...silentLogger, warn: (_m: string, f?: Record<string, unknown>) => { warnings.push(f ?? {}); } };
  const reader = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log, clock: () => T0 });

  const gets = dht.calls.get;
  const learnt = await reader.learn([knower.peerId, liar.peerId, 'unreachable-peer']);
  assert.deepEqual(learnt.map((r) => r.peerId).sort(), [a.peerId, b.peerId].sort());
  assert.equal(learnt.find((r) => r.peerId === a.peerId)?.seq, 1, 'the newer record of a is kept, not the liar\'s older one');
  assert.equal(dht.calls.get, gets, 'learning asked the DHT nothing');
  assert.deepEqual(warnings.map((w) => [w.peerId, w.invalid]), [[liar.peerId, 2]]);
  // Cached as if fetched: the records come without a DHT GET; the forged one is not there.
  assert.equal((await reader.record(b.peerId))?.experts[0], 'L0.1');
  assert.equal(dht.calls.get, gets);
  assert.equal(await reader.record(victim.peerId), undefined);
  // Learnt, not corroborated: the reader does not share them on until its own search finds the host.
  assert.equal(reader.knownValues().length, 0);
  await reader.replicas('tiny', 'L0.0', { fresh: true, cachedRecords: true });
  assert.deepEqual(reader.knownValues().map((v) => decodeHostRecord(v).record.peerId), [a.peerId]);
});

test('learn: a made-up host (a record signed by a fresh key) is used by the peer that learnt it, never shared on; a host\'s own record from that host is', async () => {
  const dht = createMemoryDht(() => T0);
  const liar = await dht.peer();
  const madeUp = await dht.peer(); // a key only: no provider entry, no record in the DHT
  const honest = await announce(dht, { experts: ['L0.1'] });
  const honestValue = await signHostRecord(rec(honest.peerId, { experts: ['L0.1'] }), honest.privateKey);
  const madeUpValue = await signHostRecord(rec(madeUp.peerId, { grpc: '203.0.113.9:1' }), madeUp.privateKey);
  dht.shares.set(liar.peerId, () => [madeUpValue]);
  dht.shares.set(honest.peerId, () => [honestValue]);
  const reader = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  const learnt = await reader.learn([liar.peerId, honest.peerId]);
  assert.deepEqual(learnt.map((r) => r.peerId).sort(), [madeUp.peerId, honest.peerId].sort(), 'both verify: a signature proves no host');
  assert.deepEqual(reader.knownValues().map((v) => decodeHostRecord(v).record.peerId), [honest.peerId],
    'the host that handed out its own record is shared on; the made-up one is not');
  // Another peer asking the reader learns the honest host only.
  const readerPeer = await dht.peer();
  dht.shares.set(readerPeer.peerId, () => reader.knownValues());
  const third = createDiscovery({ allowPrivateAddresses: true }, { node: await dht.peer(), log: silentLogger, clock: () => T0 });
  assert.deepEqual((await third.learn([readerPeer.peerId])).map((r) => r.peerId), [honest.peerId]);
});
