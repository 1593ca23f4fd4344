import { test } from 'vitest';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import type { HostRecord } from '../../../shared/transport-types.ts';
import {
  HOST_RECORD_MAX_BYTES, InvalidHostRecordError, decodeHostRecord, hostRecordSelector, hostRecordValidator,
  isLiveRecord, signHostRecord, verifyHostRecord, type HostRecordRejection,
} from '../../../shared/dht/host-record.ts';
import { hostRecordKey } from '../../../shared/dht/keys.ts';
import { MAX_CLOCK_SKEW_MS, MAX_RECORD_TTL_S } from '../../../shared/dht/host-record-schema.ts';

const NOW = 1_800_000_000_000;

async function host(): Promise<{ key: PrivateKey; peerId: string }> {
  const key = await generateKeyPair('Ed25519');
  return { key, peerId: peerIdFromPrivateKey(key).toString() };
}

function record(peerId: string, over: Partial<HostRecord> = {}): HostRecord {
  return {
    peerId, model: 'tiny', experts: ['L0.1', 'L1.0'], grpc: '127.0.0.1:50051', state: 'ONLINE', version: '0.1.0',
    device: 'cpu', kvCapacityBytes: 1e6, kvFreeBytes: 5e5, queueDepth: 2, throughput: 40, auto: false,
    seq: 7, expiresAt: NOW + 60_000, ...over,
  };
}

const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
const envelope = (v: Uint8Array) => JSON.parse(new TextDecoder().decode(v)) as { v: number; payload: string; sig: string };

async function rejects(p: Promise<unknown>, reason: HostRecordRejection): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidHostRecordError, `expected InvalidHostRecordError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.equal(err.code, 'INTEGRITY');
    return true;
  });
}

test('a signed record verifies and round-trips every field', async () => {
  const h = await host();
  const r = record(h.peerId);
  const value = await signHostRecord(r, h.key);
  assert.deepEqual(await verifyHostRecord(hostRecordKey(h.peerId), value, NOW), r);
  assert.deepEqual(decodeHostRecord(value).record, r);
  await hostRecordValidator(() => NOW)(hostRecordKey(h.peerId), value);
});

test('rejects a record without a signature', async () => {
  const h = await host();
  const env = envelope(await signHostRecord(record(h.peerId), h.key));
  await rejects(verifyHostRecord(hostRecordKey(h.peerId), enc({ v: 1, payload: env.payload }), NOW), 'unsigned');
  await rejects(verifyHostRecord(hostRecordKey(h.peerId), enc({ ...env, sig: '' }), NOW), 'unsigned');
});

test('rejects a record signed by another peer than the key names', async () => {
  const victim = await host();
  const forger = await host();
  const forged = await signHostRecord(record(victim.peerId), forger.key);
  await rejects(verifyHostRecord(hostRecordKey(victim.peerId), forged, NOW), 'bad-signature');
  await rejects(hostRecordValidator(() => NOW)(hostRecordKey(victim.peerId), forged), 'bad-signature');
});

test('rejects a payload changed after signing', async () => {
  const h = await host();
  const env = envelope(await signHostRecord(record(h.peerId), h.key));
  const tampered = { ...env, payload: env.payload.replace('"seq":7', '"seq":8') };
  assert.notEqual(tampered.payload, env.payload);
  await rejects(verifyHostRecord(hostRecordKey(h.peerId), enc(tampered), NOW), 'bad-signature');
});

test('rejects a record whose payload names another peer than its key', async () => {
  const a = await host();
  const b = await host();
  // Signed by a, stored under a's key, but claiming to be b's record.
  const value = await signHostRecord(record(b.peerId), a.key);
  await rejects(verifyHostRecord(hostRecordKey(a.peerId), value, NOW), 'wrong-peer');
});

test('rejects an expired record, accepts it just before expiry', async () => {
  const h = await host();
  const value = await signHostRecord(record(h.peerId, { expiresAt: NOW }), h.key);
  await rejects(verifyHostRecord(hostRecordKey(h.peerId), value, NOW), 'expired');
  await rejects(hostRecordValidator(() => NOW + 1)(hostRecordKey(h.peerId), value), 'expired');
  await verifyHostRecord(hostRecordKey(h.peerId), value, NOW - 1);
});

test('rejects malformed values', async () => {
  const h = await host();
  const key = hostRecordKey(h.peerId);
  const good = envelope(await signHostRecord(record(h.peerId), h.key));
  const cases: Uint8Array[] = [
    new Uint8Array([0xff, 0xfe, 0x00]),
    new TextEncoder().encode('not json'),
    enc([1, 2]),
    enc({ v: 2, payload: good.payload, sig: good.sig }),
    enc({ v: 1, payload: 'not json', sig: good.sig }),
    enc({ v: 1, payload: JSON.stringify({ ...record(h.peerId), state: 'BOGUS' }), sig: good.sig }),
    enc({ v: 1, payload: JSON.stringify({ ...record(h.peerId), experts: 'L0.1' }), sig: good.sig }),
    enc({ v: 1, payload: JSON.stringify({ ...record(h.peerId), seq: '7' }), sig: good.sig }),
    enc({ v: 1, payload: JSON.stringify({ ...record(h.peerId), grpc: undefined }), sig: good.sig }),
    enc({ v: 1, payload: JSON.stringify({ ...record(h.peerId), auto: 'no' }), sig: good.sig }),
  ];
  for (const v of cases) await rejects(verifyHostRecord(key, v, NOW), 'malformed');
  await rejects(verifyHostRecord(key, new Uint8Array(HOST_RECORD_MAX_BYTES + 1), NOW), 'too-large');
});

test('rejects keys outside the namespace or naming no usable peer id', async () => {
  const h = await host();
  const value = await signHostRecord(record(h.peerId), h.key);
  await rejects(verifyHostRecord(new TextEncoder().encode(`/other/${h.peerId}`), value, NOW), 'bad-key');
  await rejects(verifyHostRecord(new TextEncoder().encode('/swarmpath-host/not-a-peer'), value, NOW), 'bad-key');
});

test('selector prefers the highest seq, then the later expiry, and never picks garbage', async () => {
  const h = await host();
  const key = hostRecordKey(h.peerId);
  const v = async (seq: number, expiresAt = NOW + 1000) => signHostRecord(record(h.peerId, { seq, expiresAt }), h.key);
  assert.equal(hostRecordSelector(key, [await v(1), await v(3), await v(2)]), 1);
  assert.equal(hostRecordSelector(key, [await v(5, NOW + 10), await v(5, NOW + 20)]), 1);
  assert.equal(hostRecordSelector(key, [new TextEncoder().encode('junk'), await v(1)]), 1);
  assert.equal(hostRecordSelector(key, [await v(9), new TextEncoder().encode('{"v":1}')]), 0);
});

test('isLiveRecord: ONLINE and unexpired only', () => {
  assert.equal(isLiveRecord(record('p'), NOW), true);
  assert.equal(isLiveRecord(record('p', { state: 'OFFLINE' }), NOW), false);
  assert.equal(isLiveRecord(record('p', { state: 'DRAINING' }), NOW), false);
  assert.equal(isLiveRecord(record('p', { expiresAt: NOW }), NOW), false);
});

test('rejects a record that expires further ahead than the longest TTL allows (plus skew)', async () => {
  const h = await host();
  const key = hostRecordKey(h.peerId);
  const limit = NOW + MAX_RECORD_TTL_S * 1000 + MAX_CLOCK_SKEW_MS;
  await verifyHostRecord(key, await signHostRecord(record(h.peerId, { expiresAt: limit }), h.key), NOW);
  await rejects(verifyHostRecord(key, await signHostRecord(record(h.peerId, { expiresAt: limit + 1 }), h.key), NOW), 'far-future');
  await rejects(verifyHostRecord(key, await signHostRecord(record(h.peerId, { expiresAt: Number.MAX_SAFE_INTEGER }), h.key), NOW), 'far-future');
});

test('accepts only a plain host:port as the gRPC address', async () => {
  const h = await host();
  const key = hostRecordKey(h.peerId);
  for (const grpc of ['127.0.0.1:50051', '[::1]:7000', 'host-3.example.org:443', 'router:1']) {
    assert.equal((await verifyHostRecord(key, await signHostRecord(record(h.peerId, { grpc }), h.key), NOW)).grpc, grpc);
  }
  const good = envelope(await signHostRecord(record(h.peerId), h.key));
  for (const grpc of ['unix:/var/run/x.sock', 'dns:///evil.example:53', 'unix-abstract:x', 'ipv4:1.2.3.4:5', 'a.b:0', 'a.b:65536',
    'a.b', '1.2.3:80', '1.2.3.4.5:80', '[not-ipv6]:80', 'http://h:80', 'h:80/path', 'user@h:80', ' h:80', '-h:80', 'h_1:80', '']) {
    // A host could not even sign it; a forged payload is rejected before its signature is checked.
    await assert.rejects(signHostRecord(record(h.peerId, { grpc }), h.key), InvalidHostRecordError, grpc);
    await rejects(verifyHostRecord(key, enc({ ...good, payload: JSON.stringify({ ...record(h.peerId), grpc }) }), NOW), 'malformed');
  }
});

test('a malformed record names the field at fault', async () => {
  const h = await host();
  await assert.rejects(signHostRecord(record(h.peerId, { kvFreeBytes: -1 }), h.key), /kvFreeBytes/);
  await assert.rejects(signHostRecord(record(h.peerId, { experts: Array(300).fill('L0.0') }), h.key), /experts/);
});
