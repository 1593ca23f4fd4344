/**
 * What one DHT operation costs, in control-plane messages, as the swarm grows (issue 10): real
 * libp2p nodes with kad-dht on loopback, each counting the protocol streams it opens
 * (shared/dht/rpc-counter.ts). A provide, a put, a record GET and a provider search are made from
 * random nodes of a 12-node and of a 36-node swarm; the DHT streams each opened are counted (its
 * node's: Kademlia's asking node contacts every peer itself). Kademlia's promise is a cost that
 * grows like log N: 3x the nodes must cost at most 1.5x the streams, and no operation may ask most of the swarm (kad-dht's own defaults, ten
 * disjoint paths of ten queries storing on 20 peers, fail both). Counts, not times.
 */
import { test, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { createRpcCounter, type RpcCounter } from '../../../shared/dht/rpc-counter.ts';
import { signHostRecord } from '../../../shared/dht/host-record.ts';
import { DHT_PROTOCOL, expertCid, hostRecordKey } from '../../../shared/dht/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { mulberry32 } from '../../../shared/model/rng.ts';
import { stats, waitForQuiet } from './swarm-helpers.ts';

interface Counted { node: SwarmNode; counter: RpcCounter }
const running: SwarmNode[] = [];
afterAll(async () => { await Promise.all(running.map((n) => n.stop().catch(() => {}))); });

async function swarm(n: number): Promise<Counted[]> {
  const boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  running.push(boot);
  const out: Counted[] = [];
  // Joined in tens: a realistic arrival rate, and every node's self-query sees a populated swarm.
  for (let i = 0; i < n - 1; i += 10) {
    out.push(...await Promise.all(Array.from({ length: Math.min(10, n - 1 - i) }, async () => {
      const counter = createRpcCounter();
      const node = await createSwarmNode({ bootstrap: boot.multiaddrs(), log: silentLogger, rpcCounter: counter });
      await node.start();
      running.push(node);
      return { node, counter };
    })));
  }
  await waitForQuiet(out.map((c) => c.node), 1000, 20_000);
  return out;
}

const record = (peerId: string, i: number): HostRecord => ({
  peerId, seq: i + 1, expiresAt: Date.now() + 600_000, state: 'ONLINE', model: 'm', experts: [`e${i}`], grpc: `127.0.0.1:${9000 + i}`,
  version: 't', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: false,
});

/**
 * DHT streams an operation opened: the median of `OPS` operations of each kind. In Kademlia the
 * asking node contacts every peer itself (each hop of a lookup, each store), so the operation's
 * streams are the ones its node opened; those of the rest of the swarm are its own upkeep
 * (self-queries, table refreshes), which the first version of this test counted in: on a loaded
 * machine a slow operation's window took in enough of it to fail the bound. The asking node's own
 * upkeep is taken off by counting its streams over an equally long window right after (a
 * measurement window, not a wait for anything).
 */
async function costs(nodes: readonly Counted[], seed: number): Promise<Record<string, number>> {
  const OPS = 8;
  const random = mulberry32(seed);
  const pick = () => nodes[Math.floor(random() * nodes.length)];
  const dhtStreams = (c: Counted) => c.counter.counts().get(DHT_PROTOCOL) ?? 0;
  const out: Record<string, number> = {};
  const measure = async (name: string, choose: (i: number) => Counted, op: (by: SwarmNode, i: number) => Promise<unknown>) => {
    const each: number[] = [];
    for (let i = 0; i < OPS; i++) {
      const by = choose(i);
      const before = dhtStreams(by);
      const t0 = performance.now();
      await op(by.node, i);
      const during = dhtStreams(by) - before;
      const mid = dhtStreams(by);
      await new Promise((r) => setTimeout(r, performance.now() - t0));
      each.push(during - (dhtStreams(by) - mid));
    }
    out[name] = stats(each).median;
  };
  const signal = () => AbortSignal.timeout(20_000);
  await measure('provide', pick, async (by, i) => assert.ok(await by.provide(expertCid('m', `e${seed}.${i}`), { signal: signal() }) > 0, 'provide stored'));
  await measure('put', (i) => nodes[i], async (owner, i) => {
    assert.ok(await owner.put(hostRecordKey(owner.peerId), await signHostRecord(record(owner.peerId, i), owner.privateKey), { signal: signal() }) > 0, 'put stored');
  });
  await measure('get', pick, async (by, i) => assert.ok(await by.get(hostRecordKey(nodes[i].node.peerId), { signal: signal() }), 'record found'));
  await measure('findProviders', pick, async (by, i) => {
    const found: string[] = [];
    for await (const p of by.findProviders(expertCid('m', `e${seed}.${i}`), { signal: signal(), enoughResponses: 3 })) found.push(p);
    assert.ok(found.length > 0, 'provider found');
  });
  return out;
}

test('a DHT operation costs about log N messages: 3x the nodes, at most 1.5x the streams, never most of the swarm', async (t) => {
  const small = await swarm(12);
  const atSmall = await costs(small, 1);
  await Promise.all(running.splice(0).map((n) => n.stop()));
  const large = await swarm(36);
  const atLarge = await costs(large, 2);
  t.annotate(`DHT streams per operation, 12 nodes: ${JSON.stringify(atSmall)}; 36 nodes: ${JSON.stringify(atLarge)}`);
  for (const op of Object.keys(atSmall)) {
    assert.ok(atLarge[op] <= 1.5 * atSmall[op], `${op}: ${atSmall[op]} streams among 12 nodes, ${atLarge[op]} among 36`);
    assert.ok(atLarge[op] <= 36 * 0.75, `${op} asked ${atLarge[op]} nodes' worth of streams among 36`);
  }
});
