/**
 * The host's KV memory: a fixed budget (`--kv-cache-mb`) from which every session reserves its whole
 * cache when it opens. A full budget refuses at once (RESOURCE_EXHAUSTED), never later mid-generation,
 * except that a peer within its share (kv-share.ts) gets room by reclaiming sessions of peers over
 * theirs. Sessions idle for longer than `idleMs` (`openIdleMs` while never stepped), with no step in
 * flight, are evicted by `evictIdle()`; the host calls it on a timer. Clock injected for tests.
 */
import { randomUUID } from 'node:crypto';
import { ResourceExhaustedError, UnknownSessionError } from '../shared/errors.ts';
import { createKvCache, kvFloatsPerPosition, type KvShape } from '../shared/model/kv-cache.ts';
import { kvSessionBytes, type KvSession, type SessionEndReason } from './kv-session.ts';
import { kvAvailableTo, planKvReservation, type KvHolding } from './kv-share.ts';

export interface KvSessionStoreInit {
  capacityBytes: number;
  /** Idle time after which a session may be evicted, ms. */
  idleMs: number;
  /** Idle time after which a session never stepped may be evicted, ms (default: idleMs; at most idleMs). */
  openIdleMs?: number;
  /** KV bytes each peer is guaranteed (kv-share.ts); default: the whole capacity (no reclaiming). */
  peerShareBytes?: number;
  clock?: () => number;
  /** Called when a session leaves the store (closed or evicted). */
  onEnd?: (s: KvSession, reason: SessionEndReason) => void;
}

export interface KvSessionStore {
  readonly capacityBytes: number;
  /** Bytes not reserved by open sessions. */
  freeBytes(): number;
  /** Bytes `peer` could reserve now (kv-share.ts kvAvailableTo). */
  availableTo(peer: string): number;
  /** Open sessions. */
  size(): number;
  /** Open sessions of one expert. */
  activeFor(expertId: string): number;
  /**
   * Reserves and allocates a session for `peer` (default '': the host itself), reclaiming sessions
   * of peers over their share when `peer` is within its own; or throws ResourceExhaustedError.
   */
  open(expertId: string, maxLength: number, shape: KvShape, peer?: string): KvSession;
  /** The open session `id`, or throws UNKNOWN_SESSION (naming eviction when it was evicted). */
  get(id: string): KvSession;
  /** Marks a session used now. */
  touch(s: KvSession): void;
  /** Frees a session's reservation. Idempotent. */
  close(id: string): void;
  /** Evicts sessions idle for longer than idleMs; returns their ids. */
  evictIdle(): string[];
  /** Ends every session of `expertId` with `reason` (its expert is retired); returns how many. */
  endAllOf(expertId: string, reason: SessionEndReason): number;
  /** Closes every session. */
  closeAll(): void;
}

/** Creates an empty store. */
export function createKvSessionStore(init: KvSessionStoreInit): KvSessionStore {
  const clock = init.clock ?? Date.now;
  const openIdleMs = Math.min(init.openIdleMs ?? init.idleMs, init.idleMs);
  const shareBytes = init.peerShareBytes ?? init.capacityBytes;
  const holdings = (): KvHolding[] => [...sessions.values()].map((s) => ({ id: s.id, peer: s.peer, bytes: s.reservedBytes, lastUsedMs: s.lastUsedMs, busy: s.busy > 0 }));
  const sessions = new Map<string, KvSession>();
  /** Recently ended ids, to say "evicted" rather than "unknown" (bounded). */
  const ended = new Map<string, SessionEndReason>();
  let reserved = 0;

  const end = (s: KvSession, reason: SessionEndReason) => {
    if (!sessions.delete(s.id)) return;
    reserved -= s.reservedBytes;
    s.ended = reason;
    ended.set(s.id, reason);
    if (ended.size > 4096) ended.delete(ended.keys().next().value as string);
    init.onEnd?.(s, reason);
  };

  return {
    capacityBytes: init.capacityBytes,
    freeBytes: () => init.capacityBytes - reserved,
    availableTo: (peer) => kvAvailableTo(peer, init.capacityBytes, shareBytes, holdings()),
    size: () => sessions.size,
    activeFor(expertId) {
      let n = 0;
      for (const s of sessions.values()) if (s.expertId === expertId) n++;
      return n;
    },
    open(expertId, maxLength, shape, peer = '') {
      const bytes = kvSessionBytes(maxLength, kvFloatsPerPosition(shape));
      if (reserved + bytes > init.capacityBytes) {
        const plan = planKvReservation({ peer, need: bytes, capacity: init.capacityBytes, shareBytes, holdings: holdings() });
        if (plan.type === 'refuse') {
          const why = plan.reason === 'over-share'
            ? `; this peer holds ${plan.peerBytes} bytes, past its share of ${shareBytes} (--peer-kv-share)` : '';
          throw new ResourceExhaustedError(`KV cache full: a session of ${maxLength} positions needs ${bytes} bytes, ` +
            `${init.capacityBytes - reserved} of ${init.capacityBytes} free${why}`);
        }
        if (plan.type === 'reclaim') for (const id of plan.victims) end(sessions.get(id)!, 'reclaimed');
      }
      reserved += bytes;
      const s: KvSession = {
        ...createKvCache(shape, maxLength), id: randomUUID(), expertId, reservedBytes: bytes, peer, stepped: false, lastUsedMs: clock(), busy: 0,
      };
      sessions.set(s.id, s);
      return s;
    },
    get(id) {
      const s = sessions.get(id);
      if (s) return s;
      const why = ended.get(id);
      throw new UnknownSessionError(why === 'evicted'
        ? `session ${id} was evicted after ${init.idleMs / 1000} s idle${openIdleMs < init.idleMs ? ` (${openIdleMs / 1000} s before its first step)` : ''}; open a new session and replay`
        : why === 'reclaimed' ? `session ${id} was reclaimed: its peer held more than its share of the KV cache and another peer needed room`
        : why === 'retired' ? `session ${id} ended: this host no longer serves its expert; replay it on another replica`
        : why === 'closed' ? `session ${id} is closed` : `unknown session ${JSON.stringify(id)}`);
    },
    touch(s) { s.lastUsedMs = clock(); },
    close(id) {
      const s = sessions.get(id);
      if (s) end(s, 'closed');
    },
    evictIdle() {
      const now = clock();
      const out: string[] = [];
      for (const s of [...sessions.values()]) {
        if (s.busy === 0 && now - s.lastUsedMs > (s.stepped ? init.idleMs : openIdleMs)) { end(s, 'evicted'); out.push(s.id); }
      }
      return out;
    },
    endAllOf(expertId, reason) {
      let n = 0;
      for (const s of [...sessions.values()]) if (s.expertId === expertId) { end(s, reason); n++; }
      return n;
    },
    closeAll() {
      for (const s of [...sessions.values()]) end(s, 'closed');
    },
  };
}
