/**
 * Discovery (shared/transport-types.ts) over the DHT: the providers of an expert's CID (or of the
 * swarm-wide CIDs), then each provider's signed record, asked of the provider itself first
 * (record-protocol.ts: one stream) and of the DHT when that fails (a GET walks several peers). Only
 * ONLINE, unexpired records that really list the expert are kept.
 *
 * What bounds its cost: at most `maxProviders` providers per lookup and `maxRecordFetches` GETs at a
 * time. A `fresh` lookup searches again and fetches every provider's record again (routers: an
 * OFFLINE record takes effect at once). With `cachedRecords` (rebalancing, which checks liveness with
 * Info calls) a record is fetched once and kept until it expires (records change only when a host
 * moves or changes state, and hosts refresh them every few minutes), so a lookup costs one provider
 * search plus a GET for peers not seen before; a provider whose cached record does not list the
 * expert (it may have moved there since) is re-fetched at most once per MISMATCH_RECHECK_MS. Results
 * are cached for `cacheMs` (`fresh` bypasses that cache) and identical concurrent lookups share one
 * search. Hosts whose record announces an address that may not be dialled (shared/net-address.ts:
 * private or named addresses unless `allowPrivateAddresses`) are never returned. Nothing here can hang: every step has a deadline, and a caller's
 * AbortSignal rejects its own call at once without disturbing others sharing the search.
 *
 * A search that ran out of time without finding any provider, or found providers but could not
 * fetch any of their records in time, rejects (UnavailableError) instead of answering "no host" (a
 * record found absent, expired or invalid is an answer; a GET that timed out is not): on a slow or partitioned
 * DHT the two are not the same, and a rebalancing view that took one for the other saw served
 * experts as lost and moved hosts to them (issue 10: at 64 simulated hosts on 2 cores, 3 to 9 hosts'
 * views at a time saw each of 16 served experts unserved). A failed search is not cached. A search
 * that ends in time with no provider, or whose providers' records do not list the expert or are
 * gone, answers [].
 *
 * `learn` asks peers for the records they hold (record-protocol.ts, `/swarmpath/records/1.0.0`): each
 * record is verified like any other (signed by the host it names, unexpired) and cached when it is
 * newer than what is held, so that a joining router knows the swarm after one round trip instead of a
 * provider search per expert. A peer can withhold records or hand out an older one of some host (the
 * host's own newer record wins once fetched; a stale one fails its first call, as a record of a host
 * that died does), never forge one; one that hands out invalid records is logged. It can make up hosts,
 * though: keys cost nothing, so a record signed by its own key proves only that somebody made it. A
 * learnt record is therefore not shared on (`knownValues`) until it is corroborated: its host answered
 * a record fetch or shared it itself, or a provider search of ours found that host. Records made up by
 * one hostile peer stay with the peers that asked it, instead of spreading through honest hosts'
 * answers.
 */
import { LRUCache } from 'lru-cache';
import type { CID } from 'multiformats/cid';
import { UnavailableError } from '../errors.ts';
import type { Discovery, HostRecord } from '../transport-types.ts';
import type { Logger } from '../log.ts';
import type { SwarmDht } from './node.ts';
import { isDialableAddress } from '../net-address.ts';
import { decodeHostRecord, isLiveRecord, verifyHostRecord } from './host-record.ts';
import { MAX_SHARED_RECORDS } from './record-protocol.ts';
import { expertCid, hostRecordKey, SWARM_HOSTS_CIDS } from './keys.ts';

/** A record fetch that got no answer in time (as opposed to a record found absent or invalid). */
class NoAnswerError extends Error {}

export interface DiscoveryInit {
  /** How long a lookup's result is reused, ms; default 2000. */
  cacheMs?: number;
  /** Bound of one provider search, ms; default 3000. */
  searchTimeoutMs?: number;
  /** Bound of fetching one host's record, ms; default 2000. */
  recordTimeoutMs?: number;
  /** Providers used per lookup (the first found); default 32. */
  maxProviders?: number;
  /** Record GETs in flight at once; default 16. */
  maxRecordFetches?: number;
  /** Records kept (least recently used go first); default 4096. */
  recordCacheSize?: number;
  /** Whether hosts announcing loopback, private or named addresses are used (a LAN, a cluster, `swarm`); default false. */
  allowPrivateAddresses?: boolean;
}

export interface DiscoveryComponents {
  node: Pick<SwarmDht, 'findProviders' | 'get' | 'fetchRecord' | 'fetchKnownRecords'>;
  log: Logger;
  /** ms since the epoch; default Date.now. */
  clock?: () => number;
}

export interface DhtDiscovery extends Discovery {
  /** Peer ids that provide `expertId` of `model` (dead hosts' entries included until they expire). */
  providers(model: string, expertId: string, opts?: { signal?: AbortSignal }): Promise<string[]>;
  /** A host's live record (cached until it expires; `fresh` fetches it again). */
  record(peerId: string, opts?: { fresh?: boolean }): Promise<HostRecord | undefined>;
  /** Forgets cached results and records. */
  clear(): void;
  /**
   * The signed records this discovery holds that are live now and corroborated (see the file comment;
   * most recently used first, at most MAX_SHARED_RECORDS): what a node shares with peers asking for the
   * records it knows.
   */
  knownValues(): Uint8Array[];
  /** See Discovery.learn (shared/transport-types.ts): records shared by `peerIds`, verified, cached and resolved when live. */
  learn(peerIds: readonly string[], opts?: { signal?: AbortSignal }): Promise<HostRecord[]>;
}

/**
 * A host's verified record and the signed bytes it came in (shared again as they are); `corroborated`
 * once the record came from its host or the DHT, or its host turned up in a provider search of ours
 * (false while it is only something a peer told us: `learn`).
 */
interface Known { record: HostRecord; value: Uint8Array; corroborated: boolean }

/** Peers answering with providers that end a rebalancing view's provider search (node.ts). */
const ENOUGH_PROVIDER_RESPONSES = 3;
/** How long a provider whose record does not list the expert is not asked again, ms. */
const MISMATCH_RECHECK_MS = 30_000;
/** How long a provider whose record could not be had is not asked again by cached-record lookups, ms. */
const MISS_RECHECK_MS = 10_000;

export function createDiscovery(init: DiscoveryInit, components: DiscoveryComponents): DhtDiscovery {
  const { node, log } = components;
  const clock = components.clock ?? Date.now;
  const cacheMs = init.cacheMs ?? 2_000;
  const searchTimeoutMs = init.searchTimeoutMs ?? 3_000;
  const recordTimeoutMs = init.recordTimeoutMs ?? 2_000;
  const maxProviders = init.maxProviders ?? 32;
  const gets = limiter(init.maxRecordFetches ?? 16);
  const allowPrivate = init.allowPrivateAddresses ?? false;
  const usable = (r: HostRecord, now: number) => isLiveRecord(r, now) && isDialableAddress(r.grpc, allowPrivate);

  const records = new LRUCache<string, Known>({
    max: init.recordCacheSize ?? 4096,
    ttlAutopurge: false,
    ttlResolution: 0, perf: { now: clock },
    fetchMethod: async (peerId, _stale, { options }) => {
      const key = hostRecordKey(peerId);
      try {
        const known = await gets(async () => await fromHost(peerId, key) ?? await fromDht(key));
        if (known === undefined) return undefined;
        options.ttl = ttlOf(known.record);
        return known;
      } catch (err) {
        // No answer in time: the fetch rejects (nothing cached), and the lookup knows it learnt nothing.
        if (err instanceof NoAnswerError) throw err;
        log.debug('no usable record', { peerId, err });
        return undefined;
      }
    },
  });
  /** How long a record is cached, ms: until it expires; an OFFLINE or DRAINING host may come back (same key) before that. */
  const ttlOf = (record: HostRecord): number => {
    const ttl = record.expiresAt - clock();
    return Math.max(1, record.state === 'ONLINE' ? ttl : Math.min(ttl, MISMATCH_RECHECK_MS));
  };
  /** The record the host itself serves (record-protocol.ts), verified; undefined when that does not work out. */
  const fromHost = async (peerId: string, key: Uint8Array): Promise<Known | undefined> => {
    if (!node.fetchRecord) return undefined;
    try {
      const value = await node.fetchRecord(peerId, { signal: AbortSignal.timeout(recordTimeoutMs) });
      return value === undefined ? undefined : { record: await verifyHostRecord(key, value, clock()), value, corroborated: true };
    } catch (err) {
      log.debug('no record from the host itself; asking the DHT', { peerId, err });
      return undefined;
    }
  };
  /** The best record the DHT holds under `key`, verified (throws when it is not valid). */
  const fromDht = async (key: Uint8Array): Promise<Known | undefined> => {
    const signal = AbortSignal.timeout(recordTimeoutMs);
    const timedOut = () => new NoAnswerError(`the record GET got no answer within ${recordTimeoutMs} ms`);
    let value: Uint8Array | undefined;
    try {
      value = await node.get(key, { signal });
    } catch (err) {
      throw signal.aborted ? timedOut() : err;
    }
    // SwarmDht's GET returns quietly when its signal aborts: a timeout shows only on the signal.
    if (value === undefined && signal.aborted) throw timedOut();
    return value === undefined ? undefined : { record: await verifyHostRecord(key, value, clock()), value, corroborated: true };
  };
  /**
   * Providers whose record could not be had (not published yet, gone, or invalid), not asked again by
   * cached-record lookups for MISS_RECHECK_MS: without it every check of a young or shaken swarm paid a
   * record fetch (a DHT GET, when the host cannot answer) per such provider.
   */
  const misses = new LRUCache<string, true>({ max: 4096, ttl: MISS_RECHECK_MS, ttlResolution: 0, perf: { now: clock } });
  /** `peerId expertId` pairs whose fresh record did not list the expert, until when not re-fetched. */
  const mismatches = new LRUCache<string, true>({ max: 4096, ttl: MISMATCH_RECHECK_MS, ttlResolution: 0, perf: { now: clock } });
  const results = new LRUCache<string, Promise<HostRecord[]>>({ max: 1024, ttl: cacheMs, ttlResolution: 0, perf: { now: clock } });

  /** Providers found, and whether the search ended by itself (false: it ran out of time or failed). */
  const providersOf = async (cids: readonly CID[], signal: AbortSignal, enoughResponses?: number): Promise<{ peers: string[]; ended: boolean }> => {
    const found = new Set<string>();
    let ended = true;
    await Promise.all(cids.map(async (cid) => {
      try {
        for await (const peerId of node.findProviders(cid, { signal, enoughResponses })) {
          found.add(peerId);
          if (found.size >= maxProviders) break;
        }
      } catch (err) {
        ended = false;
        log.debug('provider search ended early', { cid: cid.toString(), err });
      }
    }));
    // SwarmDht's search returns quietly when its signal aborts: a timeout shows only on the signal.
    return { peers: [...found].slice(0, maxProviders), ended: ended && !signal.aborted };
  };

  const recordFor = async (peerId: string, expertId: string | undefined, refetch: boolean): Promise<HostRecord | undefined> => {
    if (refetch) return (await records.fetch(peerId, { forceRefresh: true }))?.record;
    if (misses.has(peerId)) return undefined;
    const known = await records.fetch(peerId);
    // A provider search found this host: a record of it learnt from a peer is corroborated now.
    if (known) known.corroborated = true;
    const r = known?.record;
    if (r === undefined) misses.set(peerId, true);
    if (r === undefined || expertId === undefined || r.experts.includes(expertId)) return r;
    const pair = `${peerId} ${expertId}`;
    if (mismatches.has(pair)) return r;
    mismatches.set(pair, true);
    return (await records.fetch(peerId, { forceRefresh: true }))?.record;
  };

  const search = async (cids: readonly CID[], expertId: string | undefined, refetch: boolean): Promise<HostRecord[]> => {
    // Rebalancing views (cached records) settle for the first peers' lists: see SwarmDht's enoughResponses.
    const { peers, ended } = await providersOf(cids, AbortSignal.timeout(searchTimeoutMs), refetch ? undefined : ENOUGH_PROVIDER_RESPONSES);
    if (peers.length === 0 && !ended) throw new UnavailableError(`the provider search got no answer within ${searchTimeoutMs} ms`);
    // One record that cannot be had never fails the lookup: a fetch is aborted when its peer is
    // forgotten meanwhile (lru-cache rejects it with "deleted"), and that peer is then simply left out.
    let unanswered = 0;
    const found = await Promise.all(peers.map((p) => recordFor(p, expertId, refetch).catch((err: unknown) => {
      unanswered++;
      log.debug('record fetch ended without a record', { peerId: p, err });
      return undefined;
    })));
    // Providers, but no record fetch answered in time (a record found absent or expired is an answer).
    if (peers.length > 0 && unanswered === peers.length) throw new UnavailableError(`none of the ${peers.length} providers' records could be fetched in time`);
    return found.filter((r): r is HostRecord => r !== undefined);
  };

  const lookup = (cacheKey: string, cids: readonly CID[], expertId: string | undefined, keep: (r: HostRecord) => boolean,
    opts: { signal?: AbortSignal; fresh?: boolean; cachedRecords?: boolean } = {}): Promise<HostRecord[]> => {
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    let result = opts.fresh ? undefined : results.get(cacheKey);
    if (!result) {
      const searching = search(cids, expertId, Boolean(opts.fresh) && !opts.cachedRecords);
      result = searching;
      results.set(cacheKey, searching);
      searching.catch(() => { if (results.get(cacheKey) === searching) results.delete(cacheKey); });
    }
    const live = result.then((found) => {
      const now = clock();
      return found.filter((r) => usable(r, now) && keep(r)).sort((a, b) => a.peerId.localeCompare(b.peerId));
    });
    return opts.signal ? raceAbort(live, opts.signal) : live;
  };

  return {
    replicas(model, expertId, opts) {
      return lookup(`e/${model}/${expertId}`, [expertCid(model, expertId)], expertId,
        (r) => r.model === model && r.experts.includes(expertId), opts);
    },
    allHosts(opts) {
      return lookup('all', SWARM_HOSTS_CIDS, undefined, () => true, opts);
    },
    providers(model, expertId, opts = {}) {
      const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(searchTimeoutMs)]) : AbortSignal.timeout(searchTimeoutMs);
      return providersOf([expertCid(model, expertId)], signal).then((r) => r.peers);
    },
    async record(peerId, opts = {}) {
      const r = (await records.fetch(peerId, opts.fresh ? { forceRefresh: true } : {}))?.record;
      return r !== undefined && usable(r, clock()) ? r : undefined;
    },
    forget(peerId) {
      records.delete(peerId);
      misses.delete(peerId);
      results.clear();
    },
    clear() { results.clear(); records.clear(); mismatches.clear(); misses.clear(); },
    knownValues() {
      const now = clock();
      const out: Uint8Array[] = [];
      for (const [, k] of records.entries()) {
        if (out.length >= MAX_SHARED_RECORDS) break;
        if (k.corroborated && isLiveRecord(k.record, now)) out.push(k.value);
      }
      return out;
    },
    async learn(peerIds, opts = {}) {
      const fetchKnown = node.fetchKnownRecords;
      if (!fetchKnown) return [];
      const learnt = new Map<string, HostRecord>();
      const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(recordTimeoutMs)]) : AbortSignal.timeout(recordTimeoutMs);
      await Promise.all(peerIds.map(async (from) => {
        let values: Uint8Array[];
        try {
          values = await fetchKnown(from, { signal });
        } catch (err) {
          log.debug('no records shared by the peer', { peerId: from, err });
          return;
        }
        let invalid = 0;
        for (const value of values) {
          let claimed: HostRecord;
          try { claimed = decodeHostRecord(value).record; } catch { invalid++; continue; }
          const held = records.get(claimed.peerId);
          // What we hold already is at least as new: nothing to verify.
          if (held !== undefined && held.record.seq >= claimed.seq) {
            if (claimed.peerId === from) held.corroborated = true;
            learnt.set(held.record.peerId, held.record);
            continue;
          }
          let record: HostRecord;
          try { record = await verifyHostRecord(hostRecordKey(claimed.peerId), value, clock()); } catch { invalid++; continue; }
          const prev = learnt.get(record.peerId);
          if (prev !== undefined && prev.seq >= record.seq) continue;
          // A peer's own record, from that peer (the connection authenticates it), is as good as fetched;
          // and only a host's key signs its records, so a newer one of a corroborated host stays so.
          records.set(record.peerId, { record, value, corroborated: record.peerId === from || (held?.corroborated ?? false) }, { ttl: ttlOf(record) });
          misses.delete(record.peerId);
          learnt.set(record.peerId, record);
        }
        // A peer handing out records that are not valid is broken or hostile: said, and those records dropped.
        if (invalid > 0) log.warn('a peer shared host records that are not valid', { peerId: from, invalid, of: values.length });
      }));
      const now = clock();
      return [...learnt.values()].filter((r) => usable(r, now));
    },
  };
}

/** Runs at most `n` of the given tasks at a time, the rest in arrival order. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try { return await task(); } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
