/**
 * Wires rebalancing into a running expert host: the MigrationHost over the host's core (shards
 * found or fetched with locateShard, sha256-verified, opened in onnxruntime, added to and removed
 * from the core), the live view (DHT + Info probes), the migrator and the jittered loop. host.ts
 * calls `startHostRebalancing` after the host is announced and `stop()` first when it drains.
 */
import type { GrpcExpertClient } from '../../shared/grpc/client.ts';
import type { Logger } from '../../shared/log.ts';
import type { FileRef, Manifest } from '../../shared/manifest.ts';
import type { ExpertModel, ModelPackage } from '../../shared/runtime-types.ts';
import type { Discovery, HostInfo } from '../../shared/transport-types.ts';
import type { ServedModel } from '../host-core.ts';
import { locateShard } from '../shard-store.ts';
import { decideRebalance } from './decide.ts';
import type { OwnExpertLoad } from './demand.ts';
import { createInfoClients } from './info-clients.ts';
import { createMigrator, type MigrationHost, type PreparedExpert, type ViewInput } from './migrator.ts';
import { createRebalancer, type Rebalancer } from './rebalancer.ts';
import { createSwarmView, type SwarmViewInit } from './swarm-view.ts';
import { joinView, type JoinViewComponents } from './join-view.ts';
import { createProbeVerifier, type ReplicaVerifier } from '../../shared/model/probe-verifier.ts';

/** What rebalancing needs of the host core (host-core.ts). */
export interface RebalancingCore {
  info(): HostInfo;
  readonly store: { activeFor(expertId: string): number };
  /** Starts serving an expert loaded from a verified shard. */
  addExpert(m: ServedModel): void;
  /** Stops serving `expertId`: ends its sessions, waits for its running calls; returns it for release. */
  removeExpert(expertId: string): Promise<ServedModel | undefined>;
}

export interface HostRebalancingSettings {
  /** Replicas every expert should have (--target-replicas). */
  targetReplicas: number;
  /** Mean seconds between checks (--rebalance-interval-s), jittered ±50 %. */
  intervalMs: number;
  /** Wait after announcing a new expert before releasing the old one, ms. */
  settleMs: number;
  /** Longest wait for an old expert's sessions before retiring it, ms. */
  drainGraceMs: number;
  /**
   * Delay of the first check, ms. A host started with --expert waits for the swarm around it to
   * start too (else every host of a swarm starting up sees unserved experts and rushes to them).
   */
  firstCheckMs: number;
}

export const DEFAULT_REBALANCING: Readonly<HostRebalancingSettings> = Object.freeze({
  targetReplicas: 2, intervalMs: 60_000, settleMs: 3000, drainGraceMs: 15_000, firstCheckMs: 60_000,
});

/** First-check delay of a host started with --expert (see firstCheckMs), ms. */
export const PINNED_START_GRACE_MS = 20_000;

export interface HostRebalancingDeps {
  settings: HostRebalancingSettings;
  peerId: string;
  manifest: Manifest;
  /** Experts served and announced now. */
  experts: readonly string[];
  pkg: ModelPackage;
  storePkg?: ModelPackage;
  verifyFile(pkg: ModelPackage, ref: FileRef): Promise<string>;
  openExpert(pkg: ModelPackage, id: string): Promise<ExpertModel>;
  discovery: Discovery;
  connect(address: string): GrpcExpertClient;
  core: RebalancingCore;
  /** Publishes the host record with these experts (the host's announcer). */
  announce(experts: readonly string[]): Promise<void>;
  /** Whether the host's DHT publications are failing now (checks wait until they succeed). */
  publicationsFailing?(): boolean;
  log: Logger;
  emit?: (event: string, fields: Record<string, unknown>) => void;
}

export interface HostRebalancing {
  /** The experts the host announces now. */
  experts(): readonly string[];
  readonly rebalancer: Rebalancer;
  stop(): Promise<void>;
}

interface Prepared extends PreparedExpert { served: ServedModel }

/** Every expert id of a manifest, in order. */
export function manifestExperts(m: Manifest): string[] {
  return m.levels.flatMap((l) => l.experts.map((e) => e.id));
}

/**
 * The expert a host started with `--auto` serves first: the join decision on a live view. Without
 * any answer from the swarm it still joins (every expert then looks unserved).
 */
export async function chooseJoin(view: ViewInput, peerId: string): Promise<string | undefined> {
  const d = decideRebalance({ ...view, self: { peerId, experts: [] } });
  return d.type === 'join' ? d.expertId : undefined;
}

/**
 * A view source over the DHT (per-expert provider lookups, cached records) and gRPC Info calls
 * (swarm-view.ts), and a newcomer's join view over the same (join-view.ts); `close()` closes the Info channels.
 */
export function liveViewSource(d: Pick<HostRebalancingDeps, 'manifest' | 'peerId' | 'discovery'> & {
  targetReplicas: number; core?: Pick<RebalancingCore, 'info'>; served?: () => readonly string[]; onInfoCall?: () => void;
  /** How long an Info answer stands (default: swarm-view's); half the check interval, so each check sees fresh liveness. */
  aliveTtlMs?: number;
  /** Verifies holders' claims with their experts' manifest probes before they count as supply, and their identity. */
  verifier?: ReplicaVerifier;
}) {
  const clients = createInfoClients({ onCall: d.onInfoCall, verifier: d.verifier });
  const init: SwarmViewInit = {
    model: d.manifest.name, experts: manifestExperts(d.manifest), peerId: d.peerId, targetReplicas: d.targetReplicas, aliveTtlMs: d.aliveTtlMs,
    checkIdentity: d.verifier !== undefined,
  };
  const components: JoinViewComponents = {
    replicas: (model, expertId, opts) => d.discovery.replicas(model, expertId, opts),
    info: clients,
    ownLoad: () => (d.core ? ownLoad(d.core.info()) : new Map()),
    served: d.served ?? (() => d.core?.info().experts.map((e) => e.expertId) ?? []),
    ...(d.discovery.learn ? { learn: (peers: readonly string[]) => d.discovery.learn!(peers) } : {}),
  };
  return {
    view: createSwarmView(init, components),
    /** A newcomer's join view (join-view.ts): a first view of the swarm, then every expert looked at. */
    join: (signal: AbortSignal) => joinView(init, components, signal),
    close: () => clients.close(),
  };
}

/** Per-expert load from the host's Info: throughput and queue split by each expert's open sessions. */
export function ownLoad(info: HostInfo): Map<string, OwnExpertLoad> {
  const total = info.experts.reduce((a, e) => a + e.activeSessions, 0);
  return new Map(info.experts.map((e) => {
    const share = total > 0 ? e.activeSessions / total : 1 / Math.max(1, info.experts.length);
    return [e.expertId, { tokensPerS: info.throughput * share, queueDepth: info.queueDepth * share }];
  }));
}

export function startHostRebalancing(d: HostRebalancingDeps): HostRebalancing {
  const log = d.log.child('rebalance');
  const { view, close } = liveViewSource({
    ...d, targetReplicas: d.settings.targetReplicas, aliveTtlMs: Math.min(30_000, d.settings.intervalMs / 2), verifier: createProbeVerifier(d.pkg),
  });
  const host: MigrationHost = {
    async prepare(expertId) {
      const entry = d.pkg.expert(expertId);
      const shard = await locateShard(entry, { pkg: d.pkg, storePkg: d.storePkg, verifyFile: d.verifyFile, discovery: d.discovery, connect: d.connect, log });
      const model = await d.openExpert(shard.pkg, expertId);
      const p: Prepared = { expertId, source: shard.source, served: { model, shardPath: shard.path } };
      return p;
    },
    async discard(p) { await (p as Prepared).served.model.release(); },
    serve(p) { d.core.addExpert((p as Prepared).served); },
    activeSessions: (id) => d.core.store.activeFor(id),
    async retire(id) {
      const m = await d.core.removeExpert(id);
      await m?.model.release();
    },
    announce: (experts) => d.announce(experts),
  };
  const migrator = createMigrator(
    { peerId: d.peerId, experts: d.experts, settleMs: d.settings.settleMs, drainGraceMs: d.settings.drainGraceMs },
    { host, view, focusedView: view.focused, log, emit: d.emit },
  );
  const rebalancer = createRebalancer(
    { model: d.manifest.name, experts: manifestExperts(d.manifest), peerId: d.peerId, targetReplicas: d.settings.targetReplicas, intervalMs: d.settings.intervalMs, firstDelayMs: d.settings.firstCheckMs },
    { migrator, view, log, emit: d.emit, paused: d.publicationsFailing },
  );
  rebalancer.start();
  return {
    experts: () => migrator.experts(),
    rebalancer,
    async stop() {
      await rebalancer.stop();
      close();
    },
  };
}
