/**
 * The router's discovery results, cached per expert. Stale-while-revalidate: known records are
 * returned at once and refreshed in the background once older than `maxAgeMs` says (the pool's
 * policy); a caller waits for a query only when nothing is known or when it asks for fresh records.
 * `invalidate` (after a failed call) makes the next use refresh. One query per expert at a time,
 * shared; a query never rejects (a failed one keeps the cached records). A joining router seeds it
 * from its first view of the swarm (`seed`, `awaitFirstView`; replica-pool.ts `warm`): records learnt
 * from hosts serve at once and are refreshed by a query at their first use.
 */
import type { Logger } from '../shared/log.ts';
import type { Discovery, HostRecord } from '../shared/transport-types.ts';
import { keepNewestLive } from '../shared/dht/host-record.ts';
import { untilAborted } from './sleep.ts';

export interface DiscoveryCacheInit {
  model: string;
  /** Safety bound of one discovery query, ms (discovery bounds its own searches). */
  queryTimeoutMs: number;
}

export interface DiscoveryCacheComponents {
  discovery: Discovery;
  clock: () => number;
  log: Logger;
  /** The expert's records after each completed query (the pool makes them the balancer's membership). */
  onRecords(expertId: string, recs: HostRecord[], now: number): void;
  /** How long the expert's cached `records` are reused, ms. */
  maxAgeMs(expertId: string, records: readonly HostRecord[], now: number): number;
}

export interface DiscoveryCache {
  /** The expert's live, deduplicated records (see the header for when this waits for a query). */
  records(expertId: string, fresh: boolean, signal?: AbortSignal): Promise<HostRecord[]>;
  /** What is cached now, without a query. */
  cached(expertId: string): HostRecord[] | undefined;
  /** The experts with cached records. */
  experts(): string[];
  /** The next use of the expert's records refreshes them. */
  invalidate(expertId: string): void;
  /**
   * Records learnt otherwise (a joining router's first view, shared/dht/first-view.ts) for an expert
   * with none cached: kept as if found by a query that is already stale, so that the first use
   * answers with them at once and refreshes them in the background.
   */
  seed(expertId: string, records: readonly HostRecord[]): void;
  /**
   * Until `learning` settles, a use of an expert with no records (but those of `except`, which
   * `learning` itself searches for) waits for it instead of starting a query of its own.
   */
  awaitFirstView(learning: Promise<unknown>, except: readonly string[]): void;
}

interface CacheEntry {
  records: HostRecord[];
  fetchedAt: number;
  pending?: Promise<HostRecord[]>;
  /** The last query failed (said once at warn level; later failures at debug until one succeeds). */
  failing?: boolean;
}

export function discoveryCache(init: DiscoveryCacheInit, c: DiscoveryCacheComponents): DiscoveryCache {
  const cache = new Map<string, CacheEntry>();
  let firstView: { done: Promise<unknown>; except: ReadonlySet<string> } | undefined;

  /** Live, deduplicated (highest seq per peer) records of the expert, as discovery finds them now. */
  const query = async (expertId: string): Promise<HostRecord[]> => {
    const t0 = c.clock();
    // A new provider search each time, but records kept until they expire: re-fetching every
    // provider's record per query made a router's cost grow with the hosts per expert. A host whose
    // call fails is forgotten by the pool (its record fetched again: OFFLINE drops it at once).
    const recs = (await c.discovery.replicas(init.model, expertId, { signal: AbortSignal.timeout(init.queryTimeoutMs), fresh: true, cachedRecords: true }))
      .filter((r) => r.state === 'ONLINE' && r.expiresAt > t0 && r.experts.includes(expertId));
    const byPeer = new Map<string, HostRecord>();
    for (const r of recs) {
      const prev = byPeer.get(r.peerId);
      if (!prev || r.seq > prev.seq) byPeer.set(r.peerId, r);
    }
    c.log.debug('discovery', { expert: expertId, replicas: byPeer.size, ms: c.clock() - t0 });
    return [...byPeer.values()];
  };

  /** Starts (or joins) a discovery query for `expertId`; never rejects. */
  const refresh = (expertId: string, entry: CacheEntry): Promise<HostRecord[]> => {
    entry.pending ??= query(expertId)
      .then((recs) => {
        entry.failing = false;
        // An empty answer while we know unexpired records is more likely a flaky DHT query than a
        // swarm that vanished: keep those (failures strike and ban the dead ones).
        const now = c.clock();
        const kept = recs.length > 0 ? recs : entry.records.filter((r) => r.expiresAt > now);
        if (recs.length === 0 && kept.length > 0) c.log.debug('discovery found nothing; keeping unexpired records', { expert: expertId, kept: kept.length });
        entry.records = kept;
        entry.fetchedAt = now;
        c.onRecords(expertId, kept, now);
        return kept;
      })
      .catch((err: unknown) => {
        // A DHT that does not answer in time (discovery rejects rather than say "no host") is said
        // once, not at every request while it lasts.
        (entry.failing ? c.log.debug : c.log.warn).call(c.log, 'discovery failed; using cached replicas', { expert: expertId, error: err });
        entry.failing = true;
        return entry.records;
      })
      .finally(() => { entry.pending = undefined; });
    return entry.pending;
  };

  return {
    async records(expertId, fresh, signal) {
      let e = cache.get(expertId);
      if (!e) {
        e = { records: [], fetchedAt: -Infinity };
        cache.set(expertId, e);
      }
      if (firstView && e.records.length === 0 && !firstView.except.has(expertId)) await untilAborted(firstView.done, signal);
      const now = c.clock();
      const stale = now - e.fetchedAt >= c.maxAgeMs(expertId, e.records, now);
      if (!fresh && e.records.length > 0) {
        if (stale) void refresh(expertId, e);
        return e.records;
      }
      if (!fresh && !stale) return e.records;
      return untilAborted(refresh(expertId, e), signal);
    },
    cached: (expertId) => cache.get(expertId)?.records,
    experts: () => [...cache.keys()],
    invalidate(expertId) {
      const e = cache.get(expertId);
      if (e) e.fetchedAt = -Infinity;
    },
    seed(expertId, records) {
      const e = cache.get(expertId) ?? { records: [], fetchedAt: -Infinity };
      if (e.records.length > 0) return;
      const now = c.clock();
      const byPeer = keepNewestLive(new Map(), records, init.model, now, expertId);
      if (byPeer.size === 0) return;
      e.records = [...byPeer.values()];
      e.fetchedAt = -Infinity;
      cache.set(expertId, e);
      c.onRecords(expertId, e.records, now);
    },
    awaitFirstView(learning, except) {
      const view = { done: learning.catch(() => {}), except: new Set(except) };
      firstView = view;
      void view.done.then(() => { if (firstView === view) firstView = undefined; });
    },
  };
}
