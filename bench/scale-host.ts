/**
 * One simulated host of the scale scenario (bench/scale.ts): a real libp2p node with kad-dht
 * (shared/dht/node.ts, as `swarmpath host` builds it), the real announcer, discovery, swarm view,
 * migrator and rebalancer; only the model is a stand-in (an expert is "loaded" at once) and Info is
 * answered in process from the host's own state (an in-process registry instead of a gRPC channel,
 * counted as one message per call). Every control-plane message the host sends is counted.
 *
 * All hosts share this process's one event loop, so a DHT operation here waits behind every other
 * host's work: the DHT deadlines are SIM_TIMEOUTS (longer than a real host's defaults), else a
 * publication would fail only because its neighbours in the process are busy.
 */
import { createAnnouncer, type Announcer } from '../shared/dht/announcer.ts';
import { createDiscovery } from '../shared/dht/discovery.ts';
import { createSwarmNode, type SwarmNode } from '../shared/dht/node.ts';
import { createRpcCounter, type RpcCounter } from '../shared/dht/rpc-counter.ts';
import { UnavailableError } from '../shared/errors.ts';
import { silentLogger, type Logger } from '../shared/log.ts';
import type { HostInfo } from '../shared/transport-types.ts';
import { createMigrator, type MigrationHost } from '../expert-host/rebalancing/migrator.ts';
import { createRebalancer, type Rebalancer } from '../expert-host/rebalancing/rebalancer.ts';
import { createSwarmView, type InfoSource } from '../expert-host/rebalancing/swarm-view.ts';

/** DHT deadlines of simulated hosts, ms (see the file comment). */
export const SIM_TIMEOUTS = { publishTimeoutMs: 30_000, searchTimeoutMs: 15_000, recordTimeoutMs: 10_000 };

export interface ScaleSettings {
  model: string;
  experts: readonly string[];
  targetReplicas: number;
  /** Mean rebalancing interval, ms. */
  intervalMs: number;
  /** Record TTL, s. */
  recordTtlS: number;
}

/**
 * Live hosts by their (never dialled) gRPC label: the in-process stand-in for Info calls (hosts of
 * other worker processes appear with their latest Info, bench/scale-worker.ts).
 */
export type InfoRegistry = Map<string, { info(): HostInfo }>;

export interface SimHost {
  readonly index: number;
  readonly peerId: string;
  readonly grpc: string;
  readonly node: SwarmNode;
  readonly counter: RpcCounter;
  /** Experts served now. */
  served(): readonly string[];
  /** Completed moves (announced and released). */
  moves(): number;
  /** Rebalancing checks made and skipped (own publications failing), and failed publications in a row now. */
  stats(): { checks: number; skipped: number; publicationFailures: number; outcomes: Readonly<Record<string, number>>; decisions: Readonly<Record<string, number>>; viewMs: readonly number[]; focusedMs: readonly number[]; lastWarning?: string;
    /** Checks that failed (the rebalancer's warnings) and the last one's message; experts the last full view saw unserved; a move held. */
    checkErrors: number; lastCheckError?: string; lastUnserved: readonly string[]; holding: boolean };
  info(): HostInfo;
  /** Stops rebalancing and refreshing, without an OFFLINE record, and closes the node: a crash. */
  crash(): Promise<void>;
  /** Stops cleanly (end of the benchmark). */
  stop(): Promise<void>;
}

export async function startSimHost(index: number, expert: string, bootstrap: string[], s: ScaleSettings, registry: InfoRegistry): Promise<SimHost> {
  const counter = createRpcCounter();
  const node = await createSwarmNode({ bootstrap, log: silentLogger, rpcCounter: counter });
  await node.start();
  const grpc = `127.0.0.1:${20_000 + index}`;
  let served: string[] = [expert];
  let moves = 0;
  let checks = 0;
  let skipped = 0;
  /** Migration events by type (joined, announced, moved, aborted, failed). */
  const outcomes: Record<string, number> = {};
  const info = (): HostInfo => ({
    peerId: node.peerId, version: 'scale', model: s.model, state: 'ONLINE', device: 'cpu', maxContext: 0,
    experts: served.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
    queueDepth: 0, throughput: 0, kvCapacityBytes: 1, kvFreeBytes: 1,
  });
  const infoSource: InfoSource = {
    async info(address) {
      counter.add('grpc/Info');
      const h = registry.get(address);
      if (!h) throw new UnavailableError(`no host at ${address}`);
      return h.info();
    },
  };
  // The announcer's last warning (a failed publication and what it reached), for the bench's log.
  let lastWarning: string | undefined;
  const announceLog: Logger = { ...silentLogger, warn: (msg, f) => { lastWarning = `${msg} ${JSON.stringify(f, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`; }, child: () => announceLog };
  const announcer: Announcer = createAnnouncer({
    ttlS: s.recordTtlS, publishTimeoutMs: SIM_TIMEOUTS.publishTimeoutMs,
    record: { model: s.model, experts: served, grpc, version: 'scale', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: true },
  }, { node, log: announceLog });
  // Not awaited: hundreds of hosts join at once, each publishing in the background as it can.
  void announcer.start();
  const discovery = createDiscovery({ searchTimeoutMs: SIM_TIMEOUTS.searchTimeoutMs, recordTimeoutMs: SIM_TIMEOUTS.recordTimeoutMs, allowPrivateAddresses: true }, { node, log: silentLogger });
  node.shareRecords(() => discovery.knownValues()); // as `swarmpath host` does
  const swarmView = createSwarmView({ model: s.model, experts: s.experts, peerId: node.peerId, targetReplicas: s.targetReplicas }, {
    replicas: (model, e, opts) => discovery.replicas(model, e, opts), info: infoSource, ownLoad: () => new Map(), served: () => served,
  });
  /** Decisions other than `stay`, by type, and how long the last views took, ms (the scale log's diagnostics). */
  const decisions: Record<string, number> = {};
  const viewMs: number[] = [];
  /** How long the last focused views (a move's confirmations) took, ms. */
  const focusedMs: number[] = [];
  const timed = <T>(read: () => Promise<T>, into: number[]) => async (): Promise<T> => {
    const t0 = performance.now();
    try {
      return await read();
    } finally {
      into.push(Math.round(performance.now() - t0));
      if (into.length > 8) into.shift();
    }
  };
  let lastUnserved: string[] = [];
  const view = async (signal: AbortSignal) => {
    checks++;
    const input = await timed(() => swarmView(signal), viewMs)();
    lastUnserved = input.experts.filter((e) => !served.includes(e) && !input.hosts.some((h) => h.state === 'ONLINE' && h.experts.includes(e)));
    return input;
  };
  let checkErrors = 0;
  let lastCheckError: string | undefined;
  const rebalanceLog: Logger = {
    ...silentLogger,
    warn: (msg, f) => { checkErrors++; lastCheckError = `${msg} ${JSON.stringify(f, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`; },
    child: () => rebalanceLog,
  };
  const focusedView = (signal: AbortSignal, experts: readonly string[]) => timed(() => swarmView.focused(signal, experts), focusedMs)();
  const host: MigrationHost = {
    prepare: async (expertId) => ({ expertId, source: 'package' }),
    discard: async () => {},
    serve: (p) => { if (!served.includes(p.expertId)) served = [...served, p.expertId]; },
    activeSessions: () => 0,
    retire: async (id) => { served = served.filter((e) => e !== id); },
    announce: (experts) => announcer.update({ experts: [...experts] }),
  };
  const migrator = createMigrator({ peerId: node.peerId, experts: served, settleMs: 2000, drainGraceMs: 0 }, {
    host, view, focusedView, log: rebalanceLog, emit: (event, f) => {
      if (event !== 'migration') return;
      outcomes[String(f.type)] = (outcomes[String(f.type)] ?? 0) + 1;
      if (f.type === 'moved') moves++;
    },
  });
  const rebalancer: Rebalancer = createRebalancer({
    model: s.model, experts: s.experts, peerId: node.peerId, targetReplicas: s.targetReplicas, intervalMs: s.intervalMs,
    firstDelayMs: Math.random() * s.intervalMs,
  }, {
    migrator, view, log: rebalanceLog, paused: () => { const p = announcer.failures() > 0; if (p) skipped++; return p; },
    emit: (event, f) => { if (event === 'rebalance') decisions[String(f.type)] = (decisions[String(f.type)] ?? 0) + 1; },
  });
  rebalancer.start();
  const sim: SimHost = {
    index, peerId: node.peerId, grpc, node, counter,
    served: () => served, moves: () => moves, info,
    stats: () => ({ checks, skipped, publicationFailures: announcer.failures(), outcomes, decisions, viewMs: [...viewMs], focusedMs: [...focusedMs], lastWarning,
      checkErrors, lastCheckError, lastUnserved: [...lastUnserved], holding: migrator.pending() !== undefined }),
    async crash() {
      registry.delete(grpc);
      await Promise.all([rebalancer.stop(), announcer.stop()]);
      await node.stop();
    },
    async stop() {
      registry.delete(grpc);
      await Promise.all([rebalancer.stop(), announcer.stop()]);
      await node.stop();
    },
  };
  registry.set(grpc, sim);
  return sim;
}
