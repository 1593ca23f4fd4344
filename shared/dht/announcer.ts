/**
 * Keeps a host visible in the DHT: puts its signed HostRecord (`expiresAt = now + ttl`) at
 * `/swarmpath-host/<peerId>`, provides the CID of every expert it serves and its swarm-wide CID,
 * and repeats both every TTL/2 (at most 300 s). update() re-puts the record at once and provides only
 * CIDs not yet provided (a load change costs one put). goOffline() puts an OFFLINE record (the host
 * calls it on SIGTERM) so routers drop it without waiting for the TTL. Publications are serialized,
 * bounded in time, and never throw into the host: failures are logged and retried soon.
 */
import type { PrivateKey } from '@libp2p/interface';
import type { HostRecord, HostState } from '../transport-types.ts';
import type { Logger } from '../log.ts';
import type { SwarmDht } from './node.ts';
import { signHostRecord } from './host-record.ts';
import { expertCid, hostRecordKey, swarmHostsCid } from './keys.ts';

/** The fields a host announces; the announcer fills peerId, seq and expiresAt. */
export type AnnouncedFields = Omit<HostRecord, 'peerId' | 'seq' | 'expiresAt' | 'state'> & { state?: HostState };

/** Longest refresh period, ms (provider entries live 600 s on DHT nodes). */
const MAX_REFRESH_MS = 300_000;
/** Bound of the OFFLINE put at shutdown, ms. */
const OFFLINE_TIMEOUT_MS = 3_000;

export interface AnnouncerInit {
  /** Record lifetime, seconds. A host that stops refreshing disappears after at most this. */
  ttlS: number;
  record: AnnouncedFields;
  /** Refresh period, seconds; default ttlS / 2, at most 300. */
  refreshS?: number;
  /** Bound of one publication (put + provides), ms; default min(10 s, refresh period). */
  publishTimeoutMs?: number;
  /**
   * Delay before retrying a failed publication, ms; default min(1 s, refresh period). It doubles with
   * each failure in a row (up to the refresh period): a swarm too loaded to store records is not
   * helped by every host retrying every second.
   */
  retryMs?: number;
  /**
   * How often a refresh re-provides every CID, seconds; default 240 (DHT nodes keep provider entries
   * 600 s). Other refreshes only put the record, which is what expires: provides are the costly part.
   */
  provideRefreshS?: number;
}

export interface AnnouncerComponents {
  node: SwarmDht & { readonly peerId: string; readonly privateKey: PrivateKey };
  log: Logger;
  /** ms since the epoch; default Date.now. */
  clock?: () => number;
}

export interface Announcer {
  /** Publishes once (awaited, bounded) and keeps refreshing until stop() or goOffline(). */
  start(): Promise<void>;
  /** Stops refreshing (the record then expires by itself). Idempotent. */
  stop(): Promise<void>;
  /** Merges `fields` into the announced record and republishes at once (awaited, bounded). */
  update(fields: Partial<AnnouncedFields>): Promise<void>;
  /** Stops refreshing and puts an OFFLINE record (awaited, bounded). */
  goOffline(): Promise<void>;
  /** The last record published (or being published), if any. */
  current(): HostRecord | undefined;
}

export function createAnnouncer(init: AnnouncerInit, components: AnnouncerComponents): Announcer {
  const { node, log } = components;
  const clock = components.clock ?? Date.now;
  const ttlMs = init.ttlS * 1000;
  // DHT nodes drop provider entries after 10 min (node.ts): refresh well within that, whatever the TTL.
  const refreshMs = Math.min(MAX_REFRESH_MS, (init.refreshS ?? init.ttlS / 2) * 1000);
  const timeoutMs = init.publishTimeoutMs ?? Math.min(10_000, refreshMs);
  const retryMs = init.retryMs ?? Math.min(1_000, refreshMs);
  const provideRefreshMs = Math.min(MAX_REFRESH_MS, (init.provideRefreshS ?? 240) * 1000);
  let lastFullAt = -Infinity;
  let failuresInARow = 0;
  let fields: AnnouncedFields = { ...init.record, experts: [...init.record.experts] };
  let seq = 0;
  let last: HostRecord | undefined;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let again = false;
  /** Whether the next publication re-provides every CID (refreshes) or only new ones (updates). */
  let fullDue = false;
  /** CIDs provided successfully since the last full refresh. */
  const provided = new Set<string>();
  /** Aborted by stop()/goOffline() so that a slow refresh never delays shutdown. */
  let halt = new AbortController();

  const schedule = (ms: number) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!running) return;
    timer = setTimeout(() => { void publish(clock() - lastFullAt >= provideRefreshMs); }, ms);
    timer.unref();
  };

  const nextRecord = (state: HostState): HostRecord => {
    const now = clock();
    // Microseconds of the clock: a restarted host (seq back to 0) still outranks its old records.
    seq = Math.max(seq + 1, now * 1000);
    return { ...fields, experts: [...fields.experts], state, peerId: node.peerId, seq, expiresAt: now + ttlMs };
  };

  /**
   * One put + provides (every CID when `full`, else only those not provided since the last full
   * refresh, so that frequent load updates cost one put); true when everything reached a peer.
   */
  const publishOnce = async (record: HostRecord, full: boolean, provide: boolean, stoppable: boolean): Promise<boolean> => {
    const signal = stoppable ? AbortSignal.any([AbortSignal.timeout(timeoutMs), halt.signal]) : AbortSignal.timeout(Math.min(timeoutMs, OFFLINE_TIMEOUT_MS));
    const value = await signHostRecord(record, node.privateKey);
    last = record;
    if (full) provided.clear();
    const all = provide ? [swarmHostsCid(node.peerId), ...record.experts.map((e) => expertCid(record.model, e))] : [];
    const cids = all.filter((cid) => !provided.has(cid.toString()));
    const [stored, ...acks] = await Promise.all([
      node.put(hostRecordKey(node.peerId), value, { signal }).catch((err) => { log.debug('record put failed', { err }); return 0; }),
      ...cids.map((cid) => node.provide(cid, { signal }).catch((err) => { log.debug('provide failed', { cid: cid.toString(), err }); return 0; })),
    ]);
    cids.forEach((cid, i) => { if (acks[i] > 0) provided.add(cid.toString()); });
    const ok = stored > 0 && acks.every((n) => n > 0);
    (ok ? log.debug : log.warn)('host record published', { seq: record.seq, state: record.state, peersStored: stored, provided: acks, ok });
    return ok;
  };

  const publish = (full: boolean): Promise<void> => {
    if (full) fullDue = true;
    if (inFlight) { again = true; return inFlight; }
    inFlight = (async () => {
      do {
        again = false;
        const fullNow = fullDue;
        fullDue = false;
        if (fullNow) lastFullAt = clock();
        let ok = false;
        try { ok = await publishOnce(nextRecord(fields.state ?? 'ONLINE'), fullNow, true, true); } catch (err) { log.warn('publication failed', { err }); }
        failuresInARow = ok ? 0 : failuresInARow + 1;
        schedule(ok ? refreshMs : Math.min(refreshMs, retryMs * 2 ** Math.min(20, failuresInARow - 1)));
      } while (again && running);
    })().finally(() => { inFlight = undefined; });
    return inFlight;
  };

  return {
    async start() {
      if (running) return;
      running = true;
      halt = new AbortController();
      await publish(true);
    },
    async stop() {
      running = false;
      schedule(0);
      halt.abort();
    },
    async update(partial) {
      fields = { ...fields, ...partial, experts: [...(partial.experts ?? fields.experts)] };
      if (running) await publish(false);
    },
    async goOffline() {
      running = false;
      schedule(0);
      halt.abort();
      if (inFlight) await inFlight.catch(() => {});
      fields = { ...fields, state: 'OFFLINE' };
      try { await publishOnce(nextRecord('OFFLINE'), false, false, false); } catch (err) { log.warn('offline record not published', { err }); }
    },
    current: () => last,
  };
}
