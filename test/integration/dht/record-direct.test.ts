/**
 * A host's record straight from the host (shared/dht/record-protocol.ts), with real libp2p nodes on
 * loopback: discovery asks the host itself in one stream and no DHT query; a host that is gone is
 * looked up in the DHT instead; a record the host serves that is not its own (signed by another key)
 * is refused, and nothing the DHT holds for it is used either. A node shares the records it knows
 * (`/swarmpath/records/1.0.0`) in one stream; forged ones are dropped by the asker. Counts, not times.
 */
import { afterAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createDiscovery } from '../../../shared/dht/discovery.ts';
import { signHostRecord } from '../../../shared/dht/host-record.ts';
import { DHT_PROTOCOL, hostRecordKey } from '../../../shared/dht/keys.ts';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { RECORD_PROTOCOL, RECORDS_PROTOCOL } from '../../../shared/dht/record-protocol.ts';
import { createRpcCounter, type RpcCounter } from '../../../shared/dht/rpc-counter.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { waitForQuiet } from './swarm-helpers.ts';

const running: SwarmNode[] = [];
afterAll(async () => { await Promise.all(running.map((n) => n.stop().catch(() => {}))); });

const record = (peerId: string, seq: number): HostRecord => ({
  peerId, seq, expiresAt: Date.now() + 600_000, state: 'ONLINE', model: 'm', experts: ['e0'], grpc: `127.0.0.1:${9000 + seq}`,
  version: 't', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: false,
});

/** A bootstrap node and `n` nodes counting the streams they open, settled. */
async function countedSwarm(n: number): Promise<{ node: SwarmNode; counter: RpcCounter }[]> {
  const boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  running.push(boot);
  const counted: { node: SwarmNode; counter: RpcCounter }[] = [];
  for (let i = 0; i < n; i++) {
    const counter = createRpcCounter();
    const node = await createSwarmNode({ bootstrap: boot.multiaddrs(), log: silentLogger, rpcCounter: counter });
    await node.start();
    running.push(node);
    counted.push({ node, counter });
  }
  await waitForQuiet(counted.map((c) => c.node), 1000, 20_000);
  return counted;
}

test('discovery takes a record from its host in one stream, from the DHT when the host is gone, and never a record the host did not sign', async () => {
  const counted = await countedSwarm(10);
  const [host, reader, liar] = counted.map((c) => c.node);
  const signal = () => AbortSignal.timeout(20_000);
  assert.ok(await host.put(hostRecordKey(host.peerId), await signHostRecord(record(host.peerId, 1), host.privateKey), { signal: signal() }) > 0);
  // The liar serves, as its own record, one signed by another key (its DHT put is refused by every peer).
  const other = await generateKeyPair('Ed25519');
  await liar.put(hostRecordKey(liar.peerId), await signHostRecord(record(liar.peerId, 2), other), { signal: signal() });
  await waitForQuiet(counted.map((c) => c.node), 1000, 20_000);

  const streams = (protocol: string) => counted.reduce((a, c) => a + (c.counter.counts().get(protocol) ?? 0), 0);
  const discovery = () => createDiscovery({ allowPrivateAddresses: true }, { node: reader, log: silentLogger });

  // From the host itself: one record stream, no DHT query.
  const dht0 = streams(DHT_PROTOCOL), rec0 = streams(RECORD_PROTOCOL);
  const direct = await discovery().record(host.peerId);
  assert.equal(direct?.seq, 1);
  assert.equal(streams(RECORD_PROTOCOL) - rec0, 1);
  assert.equal(streams(DHT_PROTOCOL) - dht0, 0, 'no DHT query');
  // The same record by a DHT GET, for comparison: several peers asked.
  const dht1 = streams(DHT_PROTOCOL);
  assert.ok(await reader.get(hostRecordKey(host.peerId), { signal: signal() }));
  const getCost = streams(DHT_PROTOCOL) - dht1;
  assert.ok(getCost >= 2, `a GET asked ${getCost} peers`);

  // A record its host did not sign is refused; the DHT holds no valid one for it either.
  assert.equal(await discovery().record(liar.peerId), undefined);

  // The host gone (no OFFLINE record): its record still comes from the DHT.
  await host.stop();
  const dht2 = streams(DHT_PROTOCOL);
  const fromDht = await discovery().record(host.peerId);
  assert.equal(fromDht?.seq, 1);
  assert.ok(streams(DHT_PROTOCOL) - dht2 > 0, 'asked the DHT');
});

test('a node shares the records its discovery holds in one stream; the asker verifies each and keeps none that a peer forged', async () => {
  const counted = await countedSwarm(8);
  const [h1, h2, h3, knower, liar, reader] = counted.map((c) => c.node);
  const signal = () => AbortSignal.timeout(20_000);
  for (const [i, h] of [h1, h2, h3].entries()) assert.ok(await h.put(hostRecordKey(h.peerId), await signHostRecord(record(h.peerId, i + 1), h.privateKey), { signal: signal() }) > 0);
  await waitForQuiet(counted.map((c) => c.node), 1000, 20_000);
  // The knower's discovery has fetched the three records; it shares them (and, having published none, no own record).
  const knowing = createDiscovery({ allowPrivateAddresses: true }, { node: knower, log: silentLogger });
  for (const h of [h1, h2, h3]) assert.ok(await knowing.record(h.peerId));
  knower.shareRecords(() => knowing.knownValues());
  // The liar shares a record of h1 with a higher seq, signed by its own key.
  const forged = await signHostRecord({ ...record(h1.peerId, 99), grpc: '10.6.6.6:1' }, liar.privateKey);
  liar.shareRecords(() => [forged]);

  const streams = (protocol: string) => counted.reduce((a, c) => a + (c.counter.counts().get(protocol) ?? 0), 0);
  const learning = createDiscovery({ allowPrivateAddresses: true }, { node: reader, log: silentLogger });
  const dht0 = streams(DHT_PROTOCOL), shared0 = streams(RECORDS_PROTOCOL);
  const learnt = await learning.learn([knower.peerId, liar.peerId]);
  assert.deepEqual(learnt.map((r) => `${r.peerId} ${r.seq}`).sort(), [h1, h2, h3].map((h, i) => `${h.peerId} ${i + 1}`).sort());
  assert.equal(streams(RECORDS_PROTOCOL) - shared0, 2, 'one stream per peer asked');
  assert.equal(streams(DHT_PROTOCOL) - dht0, 0, 'no DHT query');
  // Cached: the records come without asking anyone again; h1's is the real one.
  const rec0 = streams(RECORD_PROTOCOL);
  assert.equal((await learning.record(h1.peerId))?.grpc, record(h1.peerId, 1).grpc);
  assert.equal(streams(RECORD_PROTOCOL) - rec0 + streams(DHT_PROTOCOL) - dht0, 0);
});
