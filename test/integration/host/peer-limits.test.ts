/**
 * Per-peer limits of a real host process against hostile peers on the wire (raw gRPC clients built
 * from proto/, each on its own connection: on loopback a peer is one connection, peer-key.ts).
 * (a) One peer opens 1,500 sessions and holds them: past its Session-stream limit it gets
 *     RESOURCE_EXHAUSTED, and a second router can still open and step sessions, the attacker's
 *     borrowed KV memory being reclaimed for it; the attacker, past its KV share, is refused.
 * (c) Sessions opened but never stepped (and streams that never open) are reclaimed after the short
 *     idle time while a stepped session lives on.
 */
import assert from 'node:assert/strict';
import { afterAll, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';
import { f32, rawPeer, rawSession, rssOf, unary, type RawSession } from './raw-peer.ts';

const D = 64; // synth: d_model 64, one layer per expert: 512 bytes of KV a position
const KV_MIB = 8;
const hosts: HostProcess[] = [];
const clients: any[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const h of hosts) assert.equal(await h.stop(), 0);
});
const peer = (address: string) => { const c = rawPeer(address); clients.push(c); return c; };
const open = (maxLength: number) => ({ open: { expert_id: 'L0.0', max_length: maxLength } });

test('(a) 1,500 sessions from one peer: it is capped, another router still opens and steps sessions', async (t) => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--kv-cache-mb', String(KV_MIB)]);
  hosts.push(host);
  const attacker = peer(host.ready.grpc);
  const victim = peer(host.ready.grpc);
  await unary(attacker, 'Info', {}); // connect before measuring
  const rssBefore = await rssOf(host.proc.pid!);

  // 1,500 streams of 64 positions (32 KiB each): the default --peer-max-sessions 256 admits 256 (8 MiB, the whole budget).
  const streams = Array.from({ length: 1500 }, () => rawSession(attacker, [open(64)]));
  const firsts = await Promise.all(streams.map((s) => s.first));
  const held = streams.filter((_, i) => firsts[i].type === 'reply');
  const refused = firsts.filter((f) => f.type === 'status');
  assert.equal(held.length, 256);
  assert.equal(refused.length, 1244);
  for (const r of refused) {
    assert.equal(r.type === 'status' && r.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(r.type === 'status' ? r.details : '', /per-peer limit: 127\.0\.0\.1:\d+ already holds 256 of its 256 Session streams \(--peer-max-sessions\)/);
  }
  const rssAfter = await rssOf(host.proc.pid!);
  await t.annotate(`host RSS ${(rssBefore / 2 ** 20).toFixed(1)} MiB before, ${(rssAfter / 2 ** 20).toFixed(1)} MiB after 1,500 opens (256 held)`);
  assert.equal(Number((await unary(attacker, 'Info', {})).kv_free_bytes), 0, 'the attacker holds the whole budget');
  assert.equal(Number((await unary(victim, 'Info', {})).kv_free_bytes), KV_MIB / 4 * 2 ** 20, 'Info tells the victim its share is there for it');

  // The victim, within its share (2 MiB), opens 8 sessions of 512 positions (256 KiB each) and steps one.
  const endings: { code: number; details: string }[] = [];
  for (const s of held) void s.ended.then((e) => endings.push(e));
  const mine: RawSession[] = [];
  for (let i = 0; i < 8; i++) {
    const s = rawSession(victim, [open(512), { step: { step_id: 1, position: 0, hidden: f32([1, 4, D]) } }, { step: { step_id: 2, position: 4, hidden: f32([1, 1, D], 2) } }]);
    mine.push(s);
    const f = await s.first;
    assert.equal(f.type === 'reply' && f.msg.kind, 'opened', JSON.stringify(f));
  }
  await waitFor('the victim\'s steps', () => mine.every((s) => s.replies.length === 3));
  assert.deepEqual(mine[0].replies.slice(1).map((r) => [String(r.step.step_id), r.step.length, r.step.hidden.shape]), [['1', 4, [1, 4, D]], ['2', 5, [1, 1, D]]]);
  await waitFor(() => `64 attacker sessions reclaimed (${endings.length} ended)`, () => endings.length === 64);
  for (const e of endings) {
    assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(e.details, /reclaimed: your peer held more than its share of this host's KV cache \(--peer-kv-share\)/);
  }

  // Past their shares: the victim's ninth session and any new attacker session are refused.
  const ninth = await rawSession(victim, [open(512)]).first;
  assert.equal(ninth.type === 'status' && ninth.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(ninth.type === 'status' ? ninth.details : '', /KV cache full: .* past its share of 2097152 \(--peer-kv-share\)/);
  const again = await rawSession(attacker, [open(64)]).first;
  assert.equal(again.type === 'status' && again.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(again.type === 'status' ? again.details : '', /KV cache full: .*this peer holds 6291456 bytes, past its share of 2097152/);
  for (const s of [...held, ...mine]) s.call.cancel();
  await waitFor('the host to free every session', async () => Number((await unary(victim, 'Info', {})).kv_free_bytes) === KV_MIB * 2 ** 20);
});

test('(c) sessions opened but never stepped, and streams that never open, are reclaimed after --open-idle-s', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--open-idle-s', '1', '--session-idle-s', '120']);
  hosts.push(host);
  const c = peer(host.ready.grpc);
  const capacity = Number((await unary(c, 'Info', {})).kv_capacity_bytes);
  const stepped = rawSession(c, [open(16), { step: { step_id: 1, position: 0, hidden: f32([1, 2, D]) } }]);
  const idle = Array.from({ length: 20 }, () => rawSession(c, [open(16)]));
  const silent = rawSession(c, []);
  await waitFor('the stepped session\'s reply', () => stepped.replies.length === 2);
  assert.ok((await Promise.all(idle.map((s) => s.first))).every((f) => f.type === 'reply'));
  assert.equal(Number((await unary(c, 'Info', {})).kv_free_bytes), capacity - 21 * 16 * 512);

  await waitFor('the never-stepped sessions to be reclaimed', async () => Number((await unary(c, 'Info', {})).kv_free_bytes) === capacity - 16 * 512);
  for (const e of await Promise.all(idle.map((s) => s.ended))) {
    assert.equal(e.code, grpc.status.NOT_FOUND);
    assert.match(e.details, /evicted after being idle/);
  }
  const s = await silent.ended;
  assert.equal(s.code, grpc.status.FAILED_PRECONDITION);
  assert.match(s.details, /no `open` within 1 s/);
  stepped.call.write({ step: { step_id: 2, position: 2, hidden: f32([1, 1, D]) } });
  await waitFor('the stepped session to answer again', () => stepped.replies.length === 3);
  assert.equal(stepped.replies[2].step.length, 3);
  stepped.call.end();
  assert.equal((await stepped.ended).code, grpc.status.OK);
});

test('FetchShard streams per peer: a peer holding --peer-max-fetch streams it does not read is refused another; another peer is not', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.1', '--no-dht', '--peer-max-fetch', '2']);
  hosts.push(host);
  const hog = peer(host.ready.grpc);
  const fair = peer(host.ready.grpc);
  // Two downloads the hog never reads: the shard (hundreds of KiB) stays stuck behind HTTP/2 flow control.
  const stuck = [0, 1].map(() => hog.FetchShard({ expert_id: 'L0.1', offset: 0 }));
  // Listen on both before awaiting either: the second stream's metadata may arrive while the first is awaited.
  for (const s of stuck) s.on('error', () => {});
  await Promise.all(stuck.map((s) => new Promise((r) => s.once('metadata', r))));
  const fetchAll = (c: any) => new Promise<number>((resolve, reject) => {
    let n = 0;
    const s = c.FetchShard({ expert_id: 'L0.1', offset: 0 });
    s.on('data', (ch: any) => { n += ch.data.length; });
    s.on('error', reject);
    s.on('end', () => resolve(n));
  });
  await assert.rejects(fetchAll(hog), (e: any) => e.code === grpc.status.RESOURCE_EXHAUSTED
    && /per-peer limit: 127\.0\.0\.1:\d+ already holds 2 of its 2 concurrent FetchShard streams \(--peer-max-fetch\)/.test(e.details));
  const bytes = await fetchAll(fair);
  assert.ok(bytes > 64 * 1024, `the other peer got the whole shard (${bytes} bytes)`);
  for (const s of stuck) s.cancel();
  await waitFor('the hog\'s slots to come back once it cancels', () => fetchAll(hog).then(() => true, (e) => (e.code === grpc.status.RESOURCE_EXHAUSTED ? false : Promise.reject(e))));
});
