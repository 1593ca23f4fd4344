/**
 * The expert host's lifecycle. start(): load the package, join the DHT (unless disabled), choose the
 * experts (--auto: the join decision of rebalancing/, pickAutoExpert as a fallback), locate and
 * verify their shards, open them in onnxruntime, serve gRPC, announce the host record and keep it
 * current, then (--rebalance, default with --auto) run the rebalancing loop, which may move the host
 * to other experts (rebalancing/host-rebalancing.ts). stop(): stop rebalancing, announce OFFLINE, refuse new work
 * (UNAVAILABLE), let in-flight work finish within the drain grace, end remaining sessions, close the
 * server, release the models, leave the DHT — in reverse order of start.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BadConfigError, UnavailableError } from '../shared/errors.ts';
import type { GrpcExpertClient } from '../shared/grpc/client.ts';
import type { Logger } from '../shared/log.ts';
import type { FileRef, Manifest } from '../shared/manifest.ts';
import type { Device, ExpertModel, ModelPackage } from '../shared/runtime-types.ts';
import type { Discovery, HostRecord } from '../shared/transport-types.ts';
import { pickAutoExpert } from './auto-pick.ts';
import type { HostConfig } from './config.ts';
import { createGrpcServer, type HostGrpcServer } from './grpc-server.ts';
import { createHostCore, type HostCore } from './host-core.ts';
import { locateShard } from './shard-store.ts';
import { chooseJoin, DEFAULT_REBALANCING, liveViewSource, PINNED_START_GRACE_MS, startHostRebalancing } from './rebalancing/host-rebalancing.ts';
import type { BatchInfo } from './step-batcher.ts';

/** The DHT node as the host uses it. */
export interface HostNode {
  readonly peerId: string;
  /** Signs with the node's libp2p key (the identity Info proves). */
  sign?(data: Uint8Array): Promise<Uint8Array>;
  multiaddrs(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The announcer as the host uses it (shared/dht/announcer.ts). */
export interface HostAnnouncer {
  start(): Promise<void>;
  update(fields: Partial<Omit<HostRecord, 'peerId' | 'seq' | 'expiresAt'>>): Promise<void>;
  goOffline(): Promise<void>;
  stop(): Promise<void>;
  /** Failed publications in a row (0 after a success). */
  failures(): number;
}

export type AnnouncedRecord = Omit<HostRecord, 'peerId' | 'seq' | 'expiresAt'>;

/** What the host needs from the rest of the system (real ones wired in cli/commands/host.ts). */
export interface HostComponents {
  log: Logger;
  loadPackage(dir: string): Promise<ModelPackage>;
  packageOf(dir: string, manifest: Manifest): ModelPackage;
  verifyFile(pkg: ModelPackage, ref: FileRef): Promise<string>;
  openExpert(pkg: ModelPackage, id: string, opts: { device: Device; log: Logger; threads: number; skipVerify: boolean }): Promise<ExpertModel>;
  createNode?(c: HostConfig): Promise<HostNode>;
  createAnnouncer?(node: HostNode, record: AnnouncedRecord, ttlS: number): HostAnnouncer;
  createDiscovery?(node: HostNode): Discovery;
  connect?(address: string): GrpcExpertClient;
  onBatch?(b: BatchInfo): void;
  /** Each gRPC call answered (metrics). */
  onRpc?(method: string, code: number): void;
  /** Machine-readable events (stdout), e.g. rebalancing moves. */
  emit?(event: string, fields: Record<string, unknown>): void;
}

export interface RunningHost {
  readonly peerId: string;
  readonly multiaddrs: string[];
  /** Bound gRPC address, host:port. */
  readonly grpc: string;
  readonly experts: string[];
  readonly core: HostCore;
  /** gRPC connections open now, and refused on accept since start (grpc-server.ts). */
  connections(): { open: number; refused: number };
  /** Drains and stops (idempotent). */
  stop(): Promise<void>;
}

/** The version announced in Info and the host record (package.json's). */
export const HOST_VERSION: string = (() => {
  try { return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string; } catch { return '0.0.0'; }
})();

/** Starts a host; resolves once it serves and is announced. */
export async function startHost(config: HostConfig, c: HostComponents): Promise<RunningHost> {
  const log = c.log;
  const pkg = await c.loadPackage(config.model);
  const manifest = pkg.manifest;
  const cleanups: (() => Promise<void>)[] = [];
  const undo = async () => { for (const f of cleanups.reverse()) await f().catch(() => {}); };
  try {
    let node: HostNode | undefined;
    let discovery: Discovery | undefined;
    if (config.dht && c.createNode) {
      node = await c.createNode(config);
      await node.start();
      cleanups.push(() => node!.stop());
      discovery = c.createDiscovery?.(node);
    }
    const expertIds = config.experts.length > 0 ? [...config.experts] : [await chooseAuto(manifest, discovery, node?.peerId ?? '', log, config.targetReplicas)];
    for (const id of expertIds) pkg.expert(id); // UnknownExpertError names a wrong id

    const storePkg = config.store ? c.packageOf(resolve(config.store), manifest) : undefined;
    const models = await openExperts(expertIds, config, c, { pkg, storePkg, discovery }, cleanups);
    const device = models[0]?.model.device ?? config.device;
    const core = createHostCore({
      modelName: manifest.name, dims: manifest.dims, experts: models, kvCapacityBytes: config.kvCacheBytes,
      sessionIdleMs: config.sessionIdleMs, openIdleMs: config.openIdleMs, peerKvShare: config.peerKvShare, maxQueue: config.maxQueue,
      maxBatch: config.maxBatch, batchWaitMs: config.batchWaitMs, maxBatchKvBytes: config.batchKvBytes,
      version: HOST_VERSION, device, onBatch: c.onBatch,
    });
    if (node) core.setPeerId(node.peerId);
    cleanups.push(evictIdleSessions(core, config, log));

    const server = createGrpcServer({
      core, log, maxMessageBytes: config.maxMessageBytes, limits: config.limits, onRpc: c.onRpc,
      allowPrivateAddresses: config.allowPrivateAddresses,
      ...(node?.sign ? { sign: (d: Uint8Array) => node!.sign!(d) } : {}),
    });
    const grpcAddress = await server.listen(config.grpcHost, config.grpcPort);
    cleanups.push(() => server.stop(500));

    /** The experts announced now (rebalancing changes them). */
    let announcedExperts: readonly string[] = expertIds;
    let announcer: HostAnnouncer | undefined;
    if (node && c.createAnnouncer) {
      const record = (): AnnouncedRecord => {
        const i = core.info();
        return {
          model: manifest.name, experts: [...announcedExperts], grpc: grpcAddress, state: i.state, version: HOST_VERSION, device,
          kvCapacityBytes: i.kvCapacityBytes, kvFreeBytes: i.kvFreeBytes, queueDepth: i.queueDepth, throughput: i.throughput,
          // "may migrate" (transport-types.ts): rebalancing hosts may, pinned ones (--no-rebalance) never do.
          auto: config.auto || config.rebalance,
        };
      };
      // Load and throughput travel in Info calls; the record changes only with experts or state.
      announcer = c.createAnnouncer(node, record(), config.recordTtlS);
      await announcer.start();
      cleanups.push(() => announcer!.stop());
    }

    const ann = announcer;
    const rebalancing = config.rebalance && node && discovery && ann && c.connect
      ? startHostRebalancing({
        settings: rebalancingSettings(config), peerId: node.peerId, manifest, experts: expertIds, pkg, storePkg, verifyFile: c.verifyFile,
        openExpert: (p, id) => c.openExpert(p, id, { device: config.device, log, threads: config.threads, skipVerify: true }),
        discovery, connect: c.connect, core, log, emit: c.emit,
        announce: async (experts) => { announcedExperts = [...experts]; await ann.update({ experts: [...experts] }); },
        publicationsFailing: () => ann.failures() > 0,
      })
      : undefined;

    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= (async () => {
      await rebalancing?.stop().catch((err) => log.warn('stopping rebalancing failed', { error: err }));
      await drainAndStop(config, core, server, announcer, log, undo);
    })());
    return { peerId: node?.peerId ?? '', multiaddrs: node?.multiaddrs() ?? [], grpc: grpcAddress, experts: expertIds, core, connections: () => server.connections(), stop };
  } catch (err) {
    await undo();
    throw err;
  }
}

/** Locates, verifies and opens each expert's shard in onnxruntime; their release joins `cleanups`. */
async function openExperts(expertIds: readonly string[], config: HostConfig, c: HostComponents,
  where: { pkg: ModelPackage; storePkg: ModelPackage | undefined; discovery: Discovery | undefined },
  cleanups: (() => Promise<void>)[]): Promise<{ model: ExpertModel; shardPath: string }[]> {
  const log = c.log;
  const models: { model: ExpertModel; shardPath: string }[] = [];
  cleanups.push(async () => { for (const m of models) await m.model.release(); });
  for (const id of expertIds) {
    const entry = where.pkg.expert(id);
    const shard = await locateShard(entry, { ...where, verifyFile: c.verifyFile, connect: c.connect, log });
    const model = await c.openExpert(shard.pkg, id, { device: config.device, log, threads: config.threads, skipVerify: true });
    models.push({ model, shardPath: shard.path });
    log.info(`serving expert ${id} from ${shard.path} (${shard.source}, ${model.device})`);
  }
  return models;
}

/** Ends idle sessions on a timer (a quarter of the shortest idle limit, 0.1-5 s); returns its cleanup. */
function evictIdleSessions(core: HostCore, config: HostConfig, log: Logger): () => Promise<void> {
  const timer = setInterval(() => {
    const gone = core.store.evictIdle();
    if (gone.length) log.info(`evicted ${gone.length} idle session(s)`);
  }, Math.max(100, Math.min(5000, Math.min(config.sessionIdleMs, config.openIdleMs) / 4)));
  timer.unref();
  return async () => clearInterval(timer);
}

function rebalancingSettings(config: HostConfig): typeof DEFAULT_REBALANCING {
  return {
    ...DEFAULT_REBALANCING, targetReplicas: config.targetReplicas, intervalMs: config.rebalanceIntervalMs,
    // Pinned hosts of a swarm starting together spread their first checks over one more grace.
    firstCheckMs: config.rebalanceDelayMs ?? (config.auto ? config.rebalanceIntervalMs : Math.max(config.rebalanceIntervalMs, PINNED_START_GRACE_MS) * (1 + Math.random())),
  };
}

async function chooseAuto(manifest: Manifest, discovery: Discovery | undefined, peerId: string, log: Logger, targetReplicas: number): Promise<string> {
  if (!discovery) throw new BadConfigError('--auto needs the DHT (give --bootstrap, and not --no-dht)');
  // The join decision of expert-host/rebalancing/ on a live view (records whose hosts answer Info).
  const source = liveViewSource({ manifest, peerId, discovery, targetReplicas });
  try {
    // The first view (at most 2 searches of 3 s and 3 rounds of learning of 2 s) and the view itself.
    const { view, first } = await source.join(AbortSignal.timeout(15_000));
    if (first) log.info('--auto: first view of the swarm', { ...first });
    const expertId = await chooseJoin(view, peerId);
    if (expertId) {
      log.info(`--auto: serving ${expertId} (${view.hosts.length} live host(s) found)`);
      return expertId;
    }
  } catch (err) {
    log.warn('--auto: no view of the swarm; falling back to replica counts', { error: err });
  } finally {
    source.close();
  }
  const ids = manifest.levels.flatMap((l) => l.experts.map((e) => e.id));
  const counts = new Map<string, number>();
  await Promise.all(ids.map(async (id) => {
    const r = await discovery.replicas(manifest.name, id, { fresh: true }).catch(() => []);
    counts.set(id, r.length);
  }));
  const pick = pickAutoExpert(ids, counts, peerId);
  if (pick.type === 'none') throw new BadConfigError(`--auto: ${pick.reason}`);
  log.info(`--auto: serving ${pick.expertId} (${pick.replicas} live replica(s) found)`);
  return pick.expertId;
}

async function drainAndStop(config: HostConfig, core: HostCore, server: HostGrpcServer, announcer: HostAnnouncer | undefined,
  log: Logger, undo: () => Promise<void>): Promise<void> {
  core.setState('DRAINING');
  log.info(`draining: ${server.sessions()} session(s), ${core.inFlight()} call(s) in flight; grace ${config.drainGraceMs / 1000} s`);
  await announcer?.goOffline().catch((err) => log.warn('could not announce OFFLINE', { error: err }));
  const deadline = Date.now() + config.drainGraceMs;
  while (Date.now() < deadline && (core.inFlight() > 0 || server.sessions() > 0)) {
    await new Promise((r) => setTimeout(r, Math.min(25, Math.max(1, deadline - Date.now()))));
  }
  const left = server.sessions();
  if (left > 0) log.warn(`drain grace over: ending ${left} open session(s)`);
  server.endSessions(new UnavailableError('host is shutting down; move the session to another replica'));
  let idleTimer: NodeJS.Timeout | undefined;
  await Promise.race([core.idle(), new Promise((r) => { idleTimer = setTimeout(r, 1000); })]);
  clearTimeout(idleTimer);
  core.setState('OFFLINE');
  await undo();
  log.info('stopped');
}
