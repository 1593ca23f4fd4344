/**
 * Expert hosts for the decode benchmark: one `swarmpath host --no-dht` process per expert of a path
 * (real processes, real onnxruntime, real gRPC over loopback), and a static Discovery over their
 * ready events, so that the router's own replica pool and stage sessions reach them without a DHT
 * lookup in the measured loop.
 */
import { fileURLToPath } from 'node:url';
import type { Discovery, HostRecord } from '../shared/transport-types.ts';
import { spawnReady } from './child-process.ts';
import type { ReadyChild } from './child-process.ts';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

export interface LocalHost {
  child: ReadyChild;
  peerId: string;
  grpc: string;
  experts: string[];
}

/** Starts one host serving `experts` of the package in `modelDir`. Extra flags go to `swarmpath host`. */
export async function startLocalHost(modelDir: string, experts: readonly string[], extra: readonly string[] = []): Promise<LocalHost> {
  // Loopback hosts push chained steps to each other: private addresses allowed.
  const args = [MAIN, 'host', '--model', modelDir, '--no-dht', '--grpc-listen', '127.0.0.1:0', '--allow-private-addresses', ...experts.flatMap((e) => ['--expert', e]), ...extra];
  const child = await spawnReady(process.execPath, args, { name: `host ${experts.join(',')}`, env: { ...process.env, SWARMPATH_LOG: process.env.SWARMPATH_LOG ?? 'warn' } });
  // A host without the DHT has no peer id: its gRPC address names it.
  return { child, peerId: String(child.ready.peerId || child.ready.grpc), grpc: String(child.ready.grpc), experts: (child.ready.experts as string[]) ?? [...experts] };
}

/** A Discovery that answers from a fixed list of hosts (all ONLINE, never expiring). */
export function staticDiscovery(model: string, hosts: readonly LocalHost[]): Discovery {
  const records: HostRecord[] = hosts.map((h) => ({
    peerId: h.peerId, model, experts: h.experts, grpc: h.grpc, state: 'ONLINE', version: 'bench', device: 'cpu',
    kvCapacityBytes: 0, kvFreeBytes: 0, queueDepth: 0, throughput: 0, auto: false, seq: 1, expiresAt: Number.MAX_SAFE_INTEGER,
  }));
  return {
    async replicas(m, expertId) { return records.filter((r) => r.model === m && r.experts.includes(expertId)); },
    async allHosts() { return records; },
  };
}
