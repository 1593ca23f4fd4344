/**
 * Discovery (shared/transport-types.ts) over the DHT: the providers of an expert's CID (or of the
 * swarm-wide CIDs), then each provider's signed record fetched in parallel as providers stream in,
 * each fetch bounded; only ONLINE, unexpired records that really list the expert are kept. Results
 * are cached briefly (`fresh: true` bypasses the cache and refills it) and concurrent identical
 * lookups share one search. Nothing here can hang: every step has a deadline, and a caller's
 * AbortSignal rejects its own call at once without disturbing others sharing the search.
 */
import type { CID } from 'multiformats/cid';
import type { Discovery, HostRecord } from '../transport-types.ts';
import type { Logger } from '../log.ts';
import type { SwarmDht } from './node.ts';
import { isLiveRecord, verifyHostRecord } from './host-record.ts';
import { expertCid, hostRecordKey, SWARM_HOSTS_CIDS } from './keys.ts';

export interface DiscoveryInit {
  /** How long a result is reused, ms; default 2000. */
  cacheMs?: number;
  /** Bound of one provider search, ms; default 3000. */
  searchTimeoutMs?: number;
  /** Bound of fetching one host's record, ms; default 2000. */
  recordTimeoutMs?: number;
}

export interface DiscoveryComponents {
  node: Pick<SwarmDht, 'findProviders' | 'get'>;
  log: Logger;
  /** ms since the epoch; default Date.now. */
  clock?: () => number;
}

export interface DhtDiscovery extends Discovery {
  /** Forgets cached results. */
  clear(): void;
}

export function createDiscovery(init: DiscoveryInit, components: DiscoveryComponents): DhtDiscovery {
  const { node, log } = components;
  const clock = components.clock ?? Date.now;
  const cacheMs = init.cacheMs ?? 2_000;
  const searchTimeoutMs = init.searchTimeoutMs ?? 3_000;
  const recordTimeoutMs = init.recordTimeoutMs ?? 2_000;
  const cache = new Map<string, { at: number; result: Promise<HostRecord[]> }>();

  const fetchRecord = async (peerId: string): Promise<HostRecord | undefined> => {
    const key = hostRecordKey(peerId);
    try {
      const value = await node.get(key, { signal: AbortSignal.timeout(recordTimeoutMs) });
      return value === undefined ? undefined : await verifyHostRecord(key, value, clock());
    } catch (err) {
      log.debug('no usable record', { peerId, err });
      return undefined;
    }
  };

  /** Records of every provider of any of `cids` (each peer once), unfiltered. */
  const search = async (cids: readonly CID[]): Promise<HostRecord[]> => {
    const signal = AbortSignal.timeout(searchTimeoutMs);
    const fetches = new Map<string, Promise<HostRecord | undefined>>();
    await Promise.all(cids.map(async (cid) => {
      try {
        for await (const peerId of node.findProviders(cid, { signal })) {
          if (!fetches.has(peerId)) fetches.set(peerId, fetchRecord(peerId));
        }
      } catch (err) {
        log.debug('provider search ended early', { cid: cid.toString(), err });
      }
    }));
    const records = await Promise.all(fetches.values());
    return records.filter((r): r is HostRecord => r !== undefined);
  };

  const lookup = (cacheKey: string, cids: readonly CID[], keep: (r: HostRecord) => boolean,
    opts: { signal?: AbortSignal; fresh?: boolean } = {}): Promise<HostRecord[]> => {
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    const hit = cache.get(cacheKey);
    let result: Promise<HostRecord[]>;
    if (hit && !opts.fresh && clock() - hit.at < cacheMs) {
      result = hit.result;
    } else {
      result = search(cids);
      cache.set(cacheKey, { at: clock(), result });
      void result.then(() => { const e = cache.get(cacheKey); if (e && e.result === result) e.at = clock(); });
    }
    const live = result.then((records) => {
      const now = clock();
      return records.filter((r) => isLiveRecord(r, now) && keep(r)).sort((a, b) => a.peerId.localeCompare(b.peerId));
    });
    return opts.signal ? raceAbort(live, opts.signal) : live;
  };

  return {
    replicas(model, expertId, opts) {
      return lookup(`e/${model}/${expertId}`, [expertCid(model, expertId)],
        (r) => r.model === model && r.experts.includes(expertId), opts);
    },
    allHosts(opts) {
      return lookup('all', SWARM_HOSTS_CIDS, () => true, opts);
    },
    clear() { cache.clear(); },
  };
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
