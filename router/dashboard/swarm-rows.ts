/**
 * The dashboard's picture of the swarm: every level and expert of the model with its live replicas
 * (the replica pool's view, as GET /v1/swarm), each joined with what the router knows of its host
 * (device and announced state, from the latest record: ./host-directory.ts), the outcome of the
 * router's latest call to it, and its probe results (trust). Pure. An expert with no live replica has an empty `replicas` list: the page shows it as
 * "NO REPLICA".
 */
import type { Manifest } from '../../shared/manifest.ts';
import type { ReplicaView } from '../replica-pool-types.ts';
import type { HostSighting, ReplicaHealth, TrustRecord } from './stats-collector.ts';

/**
 * `verified`: passed its latest probe; `probing`: not checked yet (it gets no work until it passes);
 * `mismatch` / `probe-error`: failed its latest one; `off`: the router does not verify hosts.
 */
export type TrustState = 'verified' | 'probing' | 'mismatch' | 'probe-error' | 'off';

export interface ReplicaRow {
  peerId: string;
  grpc: string;
  /** The host's device (`cpu`, `cuda:0`, …), `?` before its record is seen. */
  device: string;
  /**
   * `FAILING` when the router's latest call to it failed (a dead host stays listed until its record
   * expires or it is banned), else the host's announced state (ONLINE, DRAINING; `?` before its
   * record is seen).
   */
  state: string;
  /** Error code of the latest failed call, while `state` is FAILING. */
  error?: string;
  /** Steps queued or running at its last announcement. */
  queue: number;
  /** Positions per second (the router's own measure once it has one). */
  throughput: number;
  trust: TrustState;
  probes: { ok: number; mismatch: number; error: number };
}

export interface LevelRows {
  name: string;
  experts: { id: string; replicas: ReplicaRow[] }[];
}

export interface SwarmRowsInput {
  manifest: Pick<Manifest, 'levels'>;
  view: Readonly<Record<string, readonly ReplicaView[]>>;
  host(peerId: string): HostSighting | undefined;
  trust(expert: string, peerId: string): TrustRecord | undefined;
  health(expert: string, peerId: string): ReplicaHealth | undefined;
  /** Whether the router verifies hosts with their experts' probes. */
  verifying: boolean;
}

export function swarmRows(i: SwarmRowsInput): LevelRows[] {
  return i.manifest.levels.map((level) => ({
    name: level.name,
    experts: level.experts.map((e) => ({
      id: e.id,
      replicas: (i.view[e.id] ?? []).map((r) => replicaRow(e.id, r, i)),
    })),
  }));
}

function replicaRow(expert: string, r: ReplicaView, i: SwarmRowsInput): ReplicaRow {
  const h = i.host(r.peerId);
  const t = i.trust(expert, r.peerId);
  const health = i.health(expert, r.peerId);
  const failing = health?.lastFailAt !== undefined && health.lastFailAt >= (health.lastOkAt ?? -Infinity);
  return {
    peerId: r.peerId, grpc: r.grpc, device: h?.device ?? '?', state: failing ? 'FAILING' : h?.state ?? '?',
    ...(failing ? { error: health.lastError } : {}),
    queue: r.load, throughput: r.throughput,
    trust: trustState(i.verifying, t),
    probes: { ok: t?.ok ?? 0, mismatch: t?.mismatch ?? 0, error: t?.error ?? 0 },
  };
}

function trustState(verifying: boolean, t: TrustRecord | undefined): TrustState {
  if (!verifying) return 'off';
  if (!t) return 'probing';
  if (t.last === 'ok') return 'verified';
  return t.last === 'mismatch' ? 'mismatch' : 'probe-error';
}
