import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createAnnouncer, type AnnouncedFields } from '../../../shared/dht/announcer.ts';
import { decodeHostRecord } from '../../../shared/dht/host-record.ts';
import { expertCid, hostRecordKey, swarmHostsCid } from '../../../shared/dht/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { createMemoryDht, type MemoryDht, type MemoryPeer } from './memory-dht.ts';
import { manualTimers } from '../../helpers/manual-timers.ts';

const fields: AnnouncedFields = {
  model: 'tiny', experts: ['L0.1', 'L1.2'], grpc: '127.0.0.1:50051', version: '0.1.0', device: 'cpu',
  kvCapacityBytes: 1000, kvFreeBytes: 1000, queueDepth: 0, throughput: 10, auto: false,
};

function latest(dht: MemoryDht, peer: MemoryPeer): HostRecord | undefined {
  const vs = dht.values(hostRecordKey(peer.peerId));
  return vs.length === 0 ? undefined : decodeHostRecord(vs[vs.length - 1]).record;
}

async function* collect<T>(it: AsyncIterable<T>): AsyncGenerator<T> { for await (const x of it) yield x; }
async function providers(peer: MemoryPeer, cid: ReturnType<typeof expertCid>): Promise<string[]> {
  const out: string[] = [];
  for await (const p of collect(peer.findProviders(cid))) out.push(p);
  return out;
}

test('start() puts a signed ONLINE record expiring after the TTL and provides every CID', async () => {
  const now = 1_800_000_000_000;
  const dht = createMemoryDht(() => now);
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 60, record: fields }, { node: peer, log: silentLogger, clock: () => now });
  await ann.start();
  const r = latest(dht, peer);
  assert.ok(r);
  assert.equal(r.peerId, peer.peerId);
  assert.equal(r.state, 'ONLINE');
  assert.equal(r.expiresAt, now + 60_000);
  assert.deepEqual(r.experts, fields.experts);
  assert.equal(r.grpc, fields.grpc);
  assert.deepEqual(ann.current(), r);
  for (const cid of [swarmHostsCid(peer.peerId), expertCid('tiny', 'L0.1'), expertCid('tiny', 'L1.2')]) {
    assert.deepEqual(await providers(peer, cid), [peer.peerId], `not provided: ${cid.toString()}`);
  }
  await ann.stop();
});

/** An announcer on a memory DHT driven by manual timers (clock starts at `start`), jitter drawn as `u`. */
async function setup(init: Partial<Parameters<typeof createAnnouncer>[0]> = {}, u = 0.5, start = 1_800_000_000_000) {
  const t = manualTimers(start);
  const dht = createMemoryDht(t.clock);
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 600, record: fields, ...init }, { node: peer, log: silentLogger, clock: t.clock, timers: t.timers, random: () => u });
  return { t, dht, peer, ann };
}

test('refreshes every TTL/2 (at most 5 min) with an increasing seq until stop()', async () => {
  const { t, dht, peer, ann } = await setup({ ttlS: 60 }, 0);
  await ann.start();
  const first = latest(dht, peer)!;
  await t.advance(29_999);
  assert.equal(dht.calls.put, 1, 'no refresh before TTL/2');
  await t.advance(1);
  assert.equal(dht.calls.put, 2);
  await t.advance(30_000);
  const third = latest(dht, peer)!;
  assert.equal(dht.calls.put, 3);
  assert.ok(third.seq > first.seq);
  assert.equal(third.expiresAt, t.now + 60_000);
  await ann.stop();
  await t.advance(600_000);
  assert.equal(dht.calls.put, 3, 'published after stop()');
  assert.equal(t.pending, 0);
});

test('the refresh period is capped at 5 min and jittered downwards only (never past TTL/2); the first comes anywhere in it', async () => {
  const lo = await setup({ ttlS: 3600 }, 0);
  await lo.ann.start();
  await lo.t.advance(300_000 - 1);
  assert.equal(lo.dht.calls.put, 1);
  await lo.t.advance(1);
  assert.equal(lo.dht.calls.put, 2, 'u = 0: 300 s');
  const hi = await setup({ ttlS: 100 }, 0.999_999);
  await hi.ann.start();
  await hi.t.advance(4_999);
  assert.equal(hi.dht.calls.put, 1);
  await hi.t.advance(2);
  assert.equal(hi.dht.calls.put, 2, 'the first refresh, u -> 1: 0.1 x 50 s');
  await hi.t.advance(34_997);
  assert.equal(hi.dht.calls.put, 2);
  await hi.t.advance(4);
  assert.equal(hi.dht.calls.put, 3, 'later ones, u -> 1: 0.7 x 50 s');
  await lo.ann.stop();
  await hi.ann.stop();
});

test('update() republishes at once with the merged fields and a higher seq', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 600, record: fields }, { node: peer, log: silentLogger });
  await ann.start();
  const before = latest(dht, peer)!;
  await ann.update({ experts: ['L0.3'], queueDepth: 5 });
  const after = latest(dht, peer)!;
  assert.ok(after.seq > before.seq);
  assert.deepEqual(after.experts, ['L0.3']);
  assert.equal(after.queueDepth, 5);
  assert.equal(after.grpc, fields.grpc);
  assert.deepEqual(await providers(peer, expertCid('tiny', 'L0.3')), [peer.peerId]);
  await ann.stop();
});

test('concurrent updates all land: the last published record has every change', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 600, record: fields }, { node: peer, log: silentLogger });
  await ann.start();
  await Promise.all([ann.update({ queueDepth: 1 }), ann.update({ kvFreeBytes: 7 }), ann.update({ throughput: 99 })]);
  const r = latest(dht, peer)!;
  assert.deepEqual([r.queueDepth, r.kvFreeBytes, r.throughput], [1, 7, 99]);
  await ann.stop();
});


test('goOffline() puts an OFFLINE record that wins and stops refreshing', async () => {
  const { t, dht, peer, ann } = await setup({ ttlS: 10 }, 0);
  await ann.start();
  const online = latest(dht, peer)!;
  await ann.goOffline();
  const off = latest(dht, peer)!;
  assert.equal(off.state, 'OFFLINE');
  assert.ok(off.seq > online.seq);
  assert.equal(decodeHostRecord((await peer.get(hostRecordKey(peer.peerId)))!).record.state, 'OFFLINE');
  const n = dht.values(hostRecordKey(peer.peerId)).length;
  await t.advance(60_000);
  assert.equal(dht.values(hostRecordKey(peer.peerId)).length, n, 'refreshed after goOffline()');
  assert.equal(t.pending, 0);
});

test('a failed publication does not throw; retries back off (5 s doubling, up to the refresh period) and re-provide everything', async () => {
  const { t, dht, peer, ann } = await setup({ ttlS: 600 }, 0);
  dht.failPuts = true;
  await ann.start();
  assert.equal(latest(dht, peer), undefined);
  assert.equal(ann.failures(), 1);
  const triesAt: number[] = [];
  let puts = dht.calls.put;
  const t0 = t.now;
  for (let i = 0; i < 60; i++) {
    await t.advance(1000);
    if (dht.calls.put !== puts) { triesAt.push(t.now - t0); puts = dht.calls.put; }
  }
  assert.deepEqual(triesAt, [5_000, 15_000, 35_000], 'retries after 5, 10, 20 s');
  assert.equal(ann.failures(), 4);
  dht.failPuts = false;
  const provides = dht.calls.provide;
  await t.advance(40_000);
  assert.ok(latest(dht, peer), 'the retry after 40 s lands');
  assert.equal(ann.failures(), 0);
  assert.equal(dht.calls.provide - provides, 3, 'the successful retry re-provides every CID');
  await t.advance(299_000);
  assert.equal(dht.calls.put, 6, 'then back to the refresh period (5 min)');
  await ann.stop();
});

test('seq stays monotonic across announcers of the same key (a restarted host, 1 ms later)', async () => {
  const { t, dht, peer, ann: a } = await setup();
  await a.start();
  for (let i = 0; i < 5; i++) await a.update({ queueDepth: i });
  await a.goOffline();
  const off = latest(dht, peer)!;
  await t.advance(1);
  const b = createAnnouncer({ ttlS: 600, record: fields }, { node: peer, log: silentLogger, clock: t.clock, timers: t.timers });
  await b.start();
  assert.ok(latest(dht, peer)!.seq > off.seq, 'restart must outrank the OFFLINE record');
  assert.equal(decodeHostRecord((await peer.get(hostRecordKey(peer.peerId)))!).record.state, 'ONLINE');
  await b.stop();
});

test('a refresh re-provides every CID; an update provides only new CIDs and stops providing dropped ones', async () => {
  const { t, dht, ann } = await setup({ ttlS: 600 }, 0);
  await ann.start();
  assert.deepEqual([dht.calls.put, dht.calls.provide], [1, 3], 'start: one put, swarm CID + 2 experts');
  await ann.update({ experts: ['L0.1', 'L1.2', 'L2.0'] });
  assert.deepEqual([dht.calls.put, dht.calls.provide, dht.calls.unprovide], [2, 4, 0], 'a new expert is provided at once');
  await ann.update({ experts: ['L2.0'] });
  assert.deepEqual([dht.calls.put, dht.calls.provide, dht.calls.unprovide], [3, 4, 2], 'dropped experts are unprovided');
  await t.advance(300_000);
  assert.deepEqual([dht.calls.put, dht.calls.provide], [4, 6], 'a refresh re-provides the swarm CID and L2.0');
  await ann.stop();
});
