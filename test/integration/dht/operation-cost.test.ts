/**
 * What one DHT operation costs, in control-plane messages, as the swarm grows (issue 10): real
 * libp2p nodes with kad-dht on loopback, each counting the protocol streams it opens
 * (shared/dht/rpc-counter.ts). A provide, a put, a record GET and a provider search are made from
 * random nodes of a 12-node and of a 36-node swarm; the DHT streams each opened are counted (its
 * node's: Kademlia's asking node contacts every peer itself). Kademlia's promise is a cost that
 * grows like log N (log 36 / log 12 = 1.44): for 3x the nodes the four operations together must
 * cost at most 1.5x the streams, no one operation may grow like N (3x; the bound is 2x), and no
 * operation may cost a stream per node of the swarm. kad-dht's own defaults (ten disjoint paths of
 * ten queries, storing on 20 peers) fail the first and the last: 66 -> 127 streams for the four, a
 * provide 44 among 36 nodes. Counts, not times.
 *
 * Why the mix and the means: a record GET among 36 nodes is bimodal, 10 streams when the first
 * round finds two values and 14-23 when it takes a second; its mean over 24 runs was 14.1, 1.41x
 * the 12-node swarm's 10 (a swarm that small is all within one round). An exactly logarithmic
 * cost therefore sits at the 1.5x bound, and a median of eight such GETs flips between the modes:
 * the first version of this test, bounding each operation's median at 1.5x, failed about one run
 * in three (CI: get 10 -> 17). The sum of the four operations' means (56 -> 66-68 in three runs)
 * has room. A provide is k = 10 stores plus the lookup that finds those peers (20-36 streams among 36
 * nodes), so the stream count of one operation is bounded against N, not against N/2.
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
import { waitForQuiet } from './swarm-helpers.ts';

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
 * DHT streams an operation opened: the mean of `OPS` operations of each kind. In Kademlia the
 * asking node contacts every peer itself (each hop of a lookup, each store), so the operation's
 * streams are the ones its node opened; those of the rest of the swarm are its own upkeep
 * (self-queries, table refreshes), which the first version of this test counted in: on a loaded
 * machine a slow operation's window took in enough of it to fail the bound. The asking node's own
 * upkeep is taken off by counting its streams over an equally long window right after (a
 * measurement window, not a wait for anything).
 */
type Costs = Record<string, number>;
async function costs(nodes: readonly Counted[], seed: number): Promise<Costs> {
  const OPS = 8;
  const random = mulberry32(seed);
  const pick = () => nodes[Math.floor(random() * nodes.length)];
  const dhtStreams = (c: Counted) => c.counter.counts().get(DHT_PROTOCOL) ?? 0;
  const out: Costs = {};
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
    out[name] = each.reduce((a, b) => a + b, 0) / each.length;
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

test('a DHT operation costs about log N messages: 3x the nodes, at most 1.5x the streams, never a stream per node', async (t) => {
  const small = await swarm(12);
  const atSmall = await costs(small, 1);
  await Promise.all(running.splice(0).map((n) => n.stop()));
  const large = await swarm(36);
  const atLarge = await costs(large, 2);
  t.annotate(`DHT streams per operation (mean), 12 nodes: ${JSON.stringify(atSmall)}; 36 nodes: ${JSON.stringify(atLarge)}`);
  const ops = Object.keys(atSmall);
  const total = (c: Costs) => ops.reduce((sum, op) => sum + c[op], 0);
  assert.ok(total(atLarge) <= 1.5 * total(atSmall), `the four operations cost ${total(atSmall)} streams among 12 nodes, ${total(atLarge)} among 36`);
  for (const op of ops) {
    assert.ok(atLarge[op] <= 2 * atSmall[op], `${op}: ${atSmall[op]} streams among 12 nodes, ${atLarge[op]} among 36`);
    assert.ok(atLarge[op] < 36, `${op} cost ${atLarge[op]} streams among 36 nodes`);
  }
});
