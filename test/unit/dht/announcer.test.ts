import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAnnouncer, type AnnouncedFields } from '../../../shared/dht/announcer.ts';
import { decodeHostRecord } from '../../../shared/dht/host-record.ts';
import { expertCid, hostRecordKey, swarmHostsCid } from '../../../shared/dht/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { createMemoryDht, type MemoryDht, type MemoryPeer } from './memory-dht.ts';

const fields: AnnouncedFields = {
  model: 'tiny', experts: ['L0.1', 'L1.2'], grpc: '127.0.0.1:50051', version: '0.1.0', device: 'cpu',
  kvCapacityBytes: 1000, kvFreeBytes: 1000, queueDepth: 0, throughput: 10, auto: false,
};

function latest(dht: MemoryDht, peer: MemoryPeer): HostRecord | undefined {
  const vs = dht.values(hostRecordKey(peer.peerId));
  return vs.length === 0 ? undefined : decodeHostRecord(vs[vs.length - 1]).record;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
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

test('refreshes every TTL/2 with an increasing seq until stop()', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 0.2, record: fields }, { node: peer, log: silentLogger });
  await ann.start();
  const first = latest(dht, peer)!;
  await until(() => dht.values(hostRecordKey(peer.peerId)).length >= 3, 'two refreshes');
  const third = decodeHostRecord(dht.values(hostRecordKey(peer.peerId))[2]).record;
  assert.ok(third.seq > first.seq);
  assert.ok(third.expiresAt > first.expiresAt);
  await ann.stop();
  const n = dht.values(hostRecordKey(peer.peerId)).length;
  await sleep(350);
  assert.equal(dht.values(hostRecordKey(peer.peerId)).length, n, 'published after stop()');
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
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 0.2, record: fields }, { node: peer, log: silentLogger });
  await ann.start();
  const online = latest(dht, peer)!;
  await ann.goOffline();
  const off = latest(dht, peer)!;
  assert.equal(off.state, 'OFFLINE');
  assert.ok(off.seq > online.seq);
  assert.equal(decodeHostRecord((await peer.get(hostRecordKey(peer.peerId)))!).record.state, 'OFFLINE');
  const n = dht.values(hostRecordKey(peer.peerId)).length;
  await sleep(300);
  assert.equal(dht.values(hostRecordKey(peer.peerId)).length, n, 'refreshed after goOffline()');
});

test('a failed publication does not throw and is retried, backing off while failures go on', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  dht.failPuts = true;
  const ann = createAnnouncer({ ttlS: 600, record: fields, retryMs: 20 }, { node: peer, log: silentLogger });
  await ann.start();
  assert.equal(latest(dht, peer), undefined);
  await sleep(330);
  // Retries after 20, 40, 80, 160 ms: 5 tries in 330 ms (a fixed 20 ms would make 17).
  assert.ok(dht.calls.put >= 4 && dht.calls.put <= 6, `tries: ${dht.calls.put}`);
  dht.failPuts = false;
  await until(() => latest(dht, peer) !== undefined, 'a retried publication');
  await ann.stop();
});

test('seq stays monotonic across announcers of the same key (a restarted host)', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const a = createAnnouncer({ ttlS: 600, record: fields }, { node: peer, log: silentLogger });
  await a.start();
  for (let i = 0; i < 5; i++) await a.update({ queueDepth: i });
  await a.goOffline();
  const off = latest(dht, peer)!;
  await sleep(2);
  const b = createAnnouncer({ ttlS: 600, record: fields }, { node: peer, log: silentLogger });
  await b.start();
  assert.ok(latest(dht, peer)!.seq > off.seq, 'restart must outrank the OFFLINE record');
  assert.equal(decodeHostRecord((await peer.get(hostRecordKey(peer.peerId)))!).record.state, 'ONLINE');
  await b.stop();
});

test('refreshes put the record and re-provide nothing until provideRefreshS has passed', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 0.2, record: fields, provideRefreshS: 600 }, { node: peer, log: silentLogger });
  await ann.start();
  assert.deepEqual([dht.calls.put, dht.calls.provide], [1, 3]);
  await until(() => dht.calls.put >= 4, 'three refreshes');
  assert.equal(dht.calls.provide, 3, 'refreshes are puts only');
  await ann.stop();
});

test('updates re-provide only new CIDs; a refresh past provideRefreshS re-provides them all', async () => {
  const dht = createMemoryDht();
  const peer = await dht.peer();
  const ann = createAnnouncer({ ttlS: 0.4, record: fields, provideRefreshS: 0.1 }, { node: peer, log: silentLogger });
  await ann.start();
  assert.deepEqual([dht.calls.put, dht.calls.provide], [1, 3], 'start: one put, swarm CID + 2 experts');
  await ann.update({ queueDepth: 3 });
  assert.deepEqual([dht.calls.put, dht.calls.provide], [2, 3], 'a load update is a put only');
  await ann.update({ experts: ['L0.1', 'L1.2', 'L2.0'] });
  assert.deepEqual([dht.calls.put, dht.calls.provide], [3, 4], 'a new expert is provided at once');
  await until(() => dht.calls.put >= 4, 'a refresh');
  await until(() => dht.calls.provide >= 8, 'the refresh to re-provide all 4 CIDs');
  await ann.stop();
});
