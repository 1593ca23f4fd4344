/**
 * A worker process of the scale scenario (bench/scale.ts): runs a share of the simulated hosts
 * (bench/scale-host.ts), so that the swarm's libp2p work spreads over the machine's cores instead of
 * queueing on one event loop. Driven over the IPC channel of `fork` with request/reply messages
 * (ScaleRequest below, each answered with the same `id`). Info calls between hosts of different
 * workers are answered from the parent's latest snapshot of every host's Info (sent every
 * SNAPSHOT_MS), the in-process stand-in for the gRPC call being the same either way.
 */
import { silentLogger } from '../shared/log.ts';
import type { HostInfo } from '../shared/transport-types.ts';
import { startSimHost, type InfoRegistry, type ScaleSettings, type SimHost } from './scale-host.ts';

/** How often a worker reports its hosts' Info to the parent, ms. */
export const SNAPSHOT_MS = 500;

/** One host as the parent sees it. */
export interface HostSnapshot {
  index: number;
  grpc: string;
  served: readonly string[];
  moves: number;
  counts: Record<string, number>;
  checks: number;
  skipped: number;
  publicationFailures: number;
  outcomes: Record<string, number>;
  /** Rebalancing decisions other than `stay`, by type. */
  decisions: Record<string, number>;
  /** Durations of the host's last views (up to 8), ms. */
  viewMs: number[];
  /** Durations of the host's last focused views (a move's confirmations, up to 8), ms. */
  focusedMs: number[];
  lastWarning?: string;
  checkErrors: number;
  lastCheckError?: string;
  lastUnserved: string[];
  holding: boolean;
  /** libp2p connections the host holds now. */
  connections: number;
  /** Connections its node closed so far to stay within its water marks (shared/dht/connection-trim.ts). */
  trimmed: number;
}

export type ScaleRequest =
  | { id: number; op: 'start'; indices: number[]; experts: string[]; settings: ScaleSettings; bootstrap: string[]; concurrency: number; joinMs?: number }
  | { id: number; op: 'snapshot' }
  | { id: number; op: 'crash'; indices: number[] }
  | { id: number; op: 'stop' };

/** Parent -> worker: the Info of every host of the other workers. */
export interface RemoteInfos { op: 'infos'; infos: Record<string, HostInfo> }
/** Worker -> parent: the Info of this worker's live hosts. */
export interface LocalInfos { op: 'infos'; infos: Record<string, HostInfo> }
/** A worker's own process: CPU used since it started (user + system), µs, and resident memory, MiB. */
export interface WorkerUsage { cpuUs: number; rssMb: number }
export interface ScaleReply { id: number; hosts?: HostSnapshot[]; usage?: WorkerUsage; error?: string }

function snapshot(h: SimHost): HostSnapshot {
  const s = h.stats();
  return {
    index: h.index, grpc: h.grpc, served: [...h.served()], moves: h.moves(), counts: Object.fromEntries(h.counter.counts()),
    checks: s.checks, skipped: s.skipped, publicationFailures: s.publicationFailures, outcomes: { ...s.outcomes },
    decisions: { ...s.decisions }, viewMs: [...s.viewMs], focusedMs: [...s.focusedMs], lastWarning: s.lastWarning,
    checkErrors: s.checkErrors, lastCheckError: s.lastCheckError, lastUnserved: [...s.lastUnserved], holding: s.holding,
    connections: h.node.libp2p.getConnections().length,
    trimmed: h.node.connectionsTrimmed(),
  };
}

async function main(): Promise<void> {
  const hosts = new Map<number, SimHost>();
  const registry: InfoRegistry = new Map();
  let remote = new Set<string>();
  const send = (m: ScaleReply | LocalInfos) => process.send!(m);
  const report = setInterval(() => {
    send({ op: 'infos', infos: Object.fromEntries([...hosts.values()].map((h) => [h.grpc, h.info()])) });
  }, SNAPSHOT_MS);

  const handle = async (m: ScaleRequest): Promise<HostSnapshot[] | undefined> => {
    switch (m.op) {
      case 'start': {
        if (m.joinMs) {
          // Arrivals spread over joinMs, one at a time: host j of this worker starts at j x joinMs / count
          // (or right after the one before, when a start takes longer than that).
          const t0 = performance.now();
          for (const [j, i] of m.indices.entries()) {
            const wait = t0 + (j * m.joinMs) / m.indices.length - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            hosts.set(i, await startSimHost(i, m.experts[i % m.experts.length], m.bootstrap, m.settings, registry));
          }
          return undefined;
        }
        let next = 0;
        await Promise.all(Array.from({ length: m.concurrency }, async () => {
          while (next < m.indices.length) {
            const i = m.indices[next++];
            hosts.set(i, await startSimHost(i, m.experts[i % m.experts.length], m.bootstrap, m.settings, registry));
          }
        }));
        return undefined;
      }
      case 'snapshot': return [...hosts.values()].map(snapshot);
      case 'crash':
        await Promise.all(m.indices.map(async (i) => { await hosts.get(i)?.crash(); hosts.delete(i); }));
        return undefined;
      case 'stop':
        clearInterval(report);
        await Promise.all([...hosts.values()].map((h) => h.stop().catch(() => {})));
        hosts.clear();
        return undefined;
    }
  };

  process.on('message', (m: ScaleRequest | RemoteInfos) => {
    if (m.op === 'infos') {
      // Hosts of other workers: replaced by each snapshot (a crashed one drops out with the next).
      for (const grpc of remote) if (!(grpc in m.infos)) registry.delete(grpc);
      remote = new Set(Object.keys(m.infos));
      for (const [grpc, info] of Object.entries(m.infos)) registry.set(grpc, { info: () => info });
      return;
    }
    handle(m).then(
      (hostsOut) => {
        const cpu = process.cpuUsage();
        send({ id: m.id, hosts: hostsOut, usage: { cpuUs: cpu.user + cpu.system, rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20) } });
        if (m.op === 'stop') process.disconnect();
      },
      (err: unknown) => send({ id: m.id, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
  });
  silentLogger.debug('scale worker ready');
}

await main();
