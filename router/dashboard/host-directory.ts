/**
 * The hosts this router has seen in discovery results, as the dashboard shows them (device, state),
 * and the moves it derives from them: a host whose announced expert set differs from the one in its
 * previous record is a move (a host migrating from one expert to another, as the router sees it).
 * Pure: records in, moves out; `now` is passed in.
 *
 * A record older (lower `seq`) than the one held is stale (a cache may hand it out after the host
 * re-announced) and is ignored, so a host never appears to move back and forth.
 */
import { LRUCache } from 'lru-cache';
import type { HostRecord } from '../../shared/transport-types.ts';

/** What the directory keeps of a host record. */
export type HostSighting = Pick<HostRecord, 'peerId' | 'experts' | 'seq' | 'grpc' | 'device' | 'state'>;

/** A host that now announces other experts than before. */
export interface MoveEvent {
  /** ms since the epoch, when the router saw the new record. */
  at: number;
  peerId: string;
  /** Experts it no longer announces, and experts it announces now (each sorted). */
  from: string[];
  to: string[];
}

export interface HostDirectory {
  /** Takes the records of one discovery result; returns the moves they reveal, in record order. */
  note(records: readonly HostSighting[], now: number): MoveEvent[];
  /** The latest record of `peerId`, if seen. */
  get(peerId: string): HostSighting | undefined;
}

/** `maxHosts`: hosts remembered at most (the least recently seen are forgotten first). */
export function hostDirectory(maxHosts = 4096): HostDirectory {
  const hosts = new LRUCache<string, HostSighting>({ max: maxHosts });
  return {
    note(records, now) {
      const moves: MoveEvent[] = [];
      for (const r of records) {
        const known = hosts.get(r.peerId);
        if (known && r.seq < known.seq) continue;
        const next = { peerId: r.peerId, experts: [...r.experts].sort(), seq: r.seq, grpc: r.grpc, device: r.device, state: r.state };
        if (known) {
          const before = new Set(known.experts);
          const after = new Set(next.experts);
          const from = known.experts.filter((e) => !after.has(e));
          const to = next.experts.filter((e) => !before.has(e));
          if (from.length > 0 || to.length > 0) moves.push({ at: now, peerId: r.peerId, from, to });
        }
        hosts.set(r.peerId, next);
      }
      return moves;
    },
    get: (peerId) => hosts.peek(peerId),
  };
}
