/** Helpers of the DHT integration tests: real libp2p nodes on loopback, in this process. */
import { createSwarmNode, type SwarmNode, type SwarmNodeInit } from '../../../shared/dht/node.ts';
import { silentLogger } from '../../../shared/log.ts';

/** A bootstrap node plus `n - 1` nodes joined through it, all started (DHT servers), each built with `extra`. */
export async function startSwarm(n: number, extra: Partial<SwarmNodeInit> = {}): Promise<SwarmNode[]> {
  const boot = await createSwarmNode({ ...extra, log: silentLogger });
  await boot.start();
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => createSwarmNode({ ...extra, bootstrap: boot.multiaddrs(), log: silentLogger })));
  await Promise.all(rest.map((node) => node.start()));
  return [boot, ...rest];
}

/** Stops every node (in parallel, errors ignored). */
export async function stopAll(nodes: readonly SwarmNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop().catch(() => {})));
}

/** Median and max of a list of numbers. */
export function stats(xs: readonly number[]): { median: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)], max: s[s.length - 1] };
}

/** Peers in a node's kad-dht routing table (kad-dht exposes it on its single-DHT instance). */
export function routingTableSize(node: SwarmNode): number {
  return (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size;
}

/** Resolves once the swarm's connection count has not changed for `quietMs` (gives up after `maxMs`). */
export async function waitForQuiet(nodes: readonly SwarmNode[], quietMs: number, maxMs: number): Promise<void> {
  const count = () => nodes.reduce((a, n) => a + n.libp2p.getConnections().length, 0);
  const end = Date.now() + maxMs;
  let last = count();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    const c = count();
    if (c !== last) { last = c; since = Date.now(); }
  }
}
