/**
 * Host records across real libp2p nodes on loopback: a put on one node is read on another, the
 * highest seq wins, and forged, unsigned and expired records are refused by the other nodes.
 */
import { test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import type { SwarmNode } from '../../../shared/dht/node.ts';
import { decodeHostRecord, signHostRecord } from '../../../shared/dht/host-record.ts';
import { hostRecordKey } from '../../../shared/dht/keys.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { startSwarm, stopAll } from './swarm-helpers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const bounded = () => ({ signal: AbortSignal.timeout(15_000) });
let nodes: SwarmNode[] = [];
beforeAll(async () => { nodes = await startSwarm(6); });
afterAll(async () => { await stopAll(nodes); });

function rec(peerId: string, over: Partial<HostRecord> = {}): HostRecord {
  return {
    peerId, model: 'tiny', experts: ['L0.0'], grpc: '127.0.0.1:50051', state: 'ONLINE', version: 'v', device: 'cpu',
    kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 1, auto: false, seq: 1, expiresAt: Date.now() + 60_000, ...over,
  };
}

async function readOn(node: SwarmNode, peerId: string): Promise<HostRecord | undefined> {
  const v = await node.get(hostRecordKey(peerId), bounded());
  return v === undefined ? undefined : decodeHostRecord(v).record;
}

test('a record put on one node is read on the others; the highest seq wins', async () => {
  const [, a, b, c] = nodes;
  assert.ok(await a.put(hostRecordKey(a.peerId), await signHostRecord(rec(a.peerId, { seq: 1, grpc: 'old:1' }), a.privateKey), bounded()) > 0);
  assert.equal((await readOn(b, a.peerId))?.grpc, 'old:1');
  assert.ok(await a.put(hostRecordKey(a.peerId), await signHostRecord(rec(a.peerId, { seq: 2, grpc: 'new:1' }), a.privateKey), bounded()) > 0);
  assert.equal((await readOn(c, a.peerId))?.grpc, 'new:1');
  assert.equal((await readOn(b, a.peerId))?.seq, 2);
});

test('a record signed by another key is refused by every other node', async () => {
  const [, , , victim, forger, reader] = nodes;
  const forged = await signHostRecord(rec(victim.peerId, { grpc: 'evil:1', seq: Number.MAX_SAFE_INTEGER }), forger.privateKey);
  assert.equal(await forger.put(hostRecordKey(victim.peerId), forged, bounded()), 0, 'a peer accepted a forged record');
  assert.equal(await readOn(reader, victim.peerId), undefined);
  // The victim's own record is still read, never the forgery.
  await victim.put(hostRecordKey(victim.peerId), await signHostRecord(rec(victim.peerId, { grpc: 'real:1' }), victim.privateKey), bounded());
  assert.ok(await forger.put(hostRecordKey(victim.peerId), forged, bounded()) === 0);
  assert.equal((await readOn(reader, victim.peerId))?.grpc, 'real:1');
});

test('an unsigned record is refused', async () => {
  const [, , , , , e] = nodes;
  const signed = JSON.parse(new TextDecoder().decode(await signHostRecord(rec(e.peerId), e.privateKey))) as { payload: string };
  const unsigned = new TextEncoder().encode(JSON.stringify({ v: 1, payload: signed.payload }));
  assert.equal(await e.put(hostRecordKey(e.peerId), unsigned, bounded()), 0);
  assert.equal(await readOn(nodes[1], e.peerId), undefined);
});

test('an expired record is refused on put, and a record that expires is no longer served', async () => {
  const [boot, , , , , reader] = nodes;
  const late = await signHostRecord(rec(boot.peerId, { expiresAt: Date.now() - 1 }), boot.privateKey);
  assert.equal(await boot.put(hostRecordKey(boot.peerId), late, bounded()), 0, 'a peer accepted an expired record');
  const expiresAt = Date.now() + 1_500;
  const short = await signHostRecord(rec(boot.peerId, { expiresAt, seq: 5 }), boot.privateKey);
  assert.ok(await boot.put(hostRecordKey(boot.peerId), short, bounded()) > 0);
  const seen = await readOn(reader, boot.peerId);
  // On a starved machine the read may already come after expiry; then it must be empty.
  if (Date.now() < expiresAt - 100) assert.equal(seen?.seq, 5);
  await waitFor('the record to expire', () => Date.now() > expiresAt, { timeoutMs: 5_000 });
  assert.equal(await readOn(reader, boot.peerId), undefined);
  assert.equal(await readOn(boot, boot.peerId), undefined, 'the writer itself still serves an expired record');
});
