/**
 * The swarm listing of `swarmpath ls --json` and `GET /v1/swarm` (SPEC.md section 3):
 * `{"model", "experts": {id: [{peerId, grpc, load, throughput, state, …}]}}`, built from host
 * records. Pure: no I/O, no clock (callers pass live records only).
 */
import type { HostRecord, HostState } from '../transport-types.ts';

/** One live replica of an expert, as listed. `load` is the host's queue depth at publication. */
export interface ListedReplica {
  peerId: string;
  grpc: string;
  load: number;
  throughput: number;
  state: HostState;
  kvFreeBytes: number;
  kvCapacityBytes: number;
  device: string;
  version: string;
  auto: boolean;
  expiresAt: number;
}

export interface SwarmListing {
  model: string;
  /** Expert id → its replicas (sorted by peer id); experts in natural order (L0.2 before L0.10). */
  experts: Record<string, ListedReplica[]>;
}

/**
 * The listing of `model` from `records`: every expert some record of that model lists, plus every
 * id in `expertIds` (experts of the manifest, listed with no replica when no host serves them).
 */
export function swarmListing(records: readonly HostRecord[], model: string, expertIds: readonly string[] = []): SwarmListing {
  const byExpert = new Map<string, ListedReplica[]>(expertIds.map((id) => [id, []]));
  for (const r of records) {
    if (r.model !== model) continue;
    for (const id of new Set(r.experts)) {
      const list = byExpert.get(id) ?? [];
      list.push(replica(r));
      byExpert.set(id, list);
    }
  }
  const experts: Record<string, ListedReplica[]> = {};
  for (const id of [...byExpert.keys()].sort(compareExpertIds)) {
    experts[id] = byExpert.get(id)!.sort((a, b) => a.peerId.localeCompare(b.peerId));
  }
  return { model, experts };
}

/** Models present in `records`, the one with the most hosts first (ties: by name). */
export function modelsByHosts(records: readonly HostRecord[]): string[] {
  const n = new Map<string, number>();
  for (const r of records) n.set(r.model, (n.get(r.model) ?? 0) + 1);
  return [...n.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([m]) => m);
}

/** Orders `L0.2` before `L0.10` and `L1.0`: by level, then index; other ids by plain text. */
export function compareExpertIds(a: string, b: string): number {
  const pa = /^L(\d+)\.(\d+)$/.exec(a);
  const pb = /^L(\d+)\.(\d+)$/.exec(b);
  if (pa && pb) return Number(pa[1]) - Number(pb[1]) || Number(pa[2]) - Number(pb[2]);
  if (pa || pb) return pa ? -1 : 1;
  return a.localeCompare(b);
}

function replica(r: HostRecord): ListedReplica {
  return {
    peerId: r.peerId, grpc: r.grpc, load: r.queueDepth, throughput: r.throughput, state: r.state,
    kvFreeBytes: r.kvFreeBytes, kvCapacityBytes: r.kvCapacityBytes, device: r.device, version: r.version,
    auto: r.auto, expiresAt: r.expiresAt,
  };
}
