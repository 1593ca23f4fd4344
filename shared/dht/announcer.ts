/**
 * Keeps a host visible in the DHT: puts its signed HostRecord (`expiresAt = now + ttl`) at
 * `/swarmpath-host/<peerId>` and provides the CID of every expert it serves and its swarm-wide CID.
 *
 * Cost is what the host serves, not the swarm's size or its load: a refresh (record + every CID)
 * every TTL/2 x U(0.7, 1) (the first at a random point of the period, so hosts that started
 * together spread out); the record carries only
 * what changes with a move or a state change (load and throughput travel in Info calls, which
 * routers and rebalancing make anyway). update() republishes at once: the record, new CIDs, and
 * stops providing CIDs no longer served. goOffline() puts an OFFLINE record (the host calls it on
 * SIGTERM) so routers drop it without waiting for the TTL.
 *
 * Publications are serialized, bounded in time, and never throw into the host. A failed one is
 * retried after `retryMs` doubling with each failure in a row (jittered, up to the refresh period):
 * a swarm too loaded to store records is not helped by every host retrying at once, and a failure
 * triggers nothing else (no move, no extra lookup).
 */
import type { PrivateKey } from '@libp2p/interface';
import type { HostRecord, HostState } from '../transport-types.ts';
import type { Logger } from '../log.ts';
import { realTimers, type Timers } from '../timers.ts';
import type { SwarmDht } from './node.ts';
import { signHostRecord } from './host-record.ts';
import { expertCid, hostRecordKey, swarmHostsCid } from './keys.ts';

/** The fields a host announces; the announcer fills peerId, seq and expiresAt. */
export type AnnouncedFields = Omit<HostRecord, 'peerId' | 'seq' | 'expiresAt' | 'state'> & { state?: HostState };

/** Longest refresh period, ms: DHT nodes keep provider entries PROVIDER_VALIDITY_MS (node.ts, 10 min), twice this. */
export const MAX_REFRESH_MS = 300_000;
/** Bound of the OFFLINE put at shutdown, ms. */
const OFFLINE_TIMEOUT_MS = 3_000;
/**
 * Relative spread of refresh and retry delays, downwards only: a refresh never comes later than
 * TTL/2, so a record is replaced well before it expires even when a publication is slow.
 */
const JITTER = 0.3;

export interface AnnouncerInit {
  /** Record lifetime, seconds. A host that stops refreshing disappears after at most this. */
  ttlS: number;
  record: AnnouncedFields;
  /** Mean refresh period, seconds; default ttlS / 2, at most MAX_REFRESH_MS. */
  refreshS?: number;
  /** Bound of one publication (put + provides), ms; default min(10 s, refresh period). */
  publishTimeoutMs?: number;
  /** Delay before the first retry of a failed publication, ms; default min(5 s, refresh period). */
  retryMs?: number;
}

export interface AnnouncerComponents {
  node: Pick<SwarmDht, 'put' | 'provide' | 'unprovide'> & { readonly peerId: string; readonly privateKey: PrivateKey };
  log: Logger;
  /** ms since the epoch; default Date.now. */
  clock?: () => number;
  timers?: Timers;
  /** Uniform [0, 1) draws for the jitter; default Math.random. */
  random?: () => number;
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
  /** Failed publications in a row (0 after a success). */
  failures(): number;
}

export function createAnnouncer(init: AnnouncerInit, components: AnnouncerComponents): Announcer {
  const { node, log } = components;
  const clock = components.clock ?? Date.now;
  const timers = components.timers ?? realTimers;
  const random = components.random ?? Math.random;
  const ttlMs = init.ttlS * 1000;
  const refreshMs = Math.min(MAX_REFRESH_MS, (init.refreshS ?? init.ttlS / 2) * 1000);
  const timeoutMs = init.publishTimeoutMs ?? Math.min(10_000, refreshMs);
  const retryMs = init.retryMs ?? Math.min(5_000, refreshMs);
  const jittered = (ms: number) => ms * (1 - JITTER * random());
  /**
   * The first refresh after start comes anywhere in (0.1, 1] of the period: hosts started together
   * (`swarm`, a restart of many) then refresh spread over the whole period at once, instead of in
   * bursts that the downward-only jitter would take many periods to smooth out.
   */
  const firstRefresh = () => refreshMs * (1 - 0.9 * random());
  let first = true;
  let failuresInARow = 0;
  let fields: AnnouncedFields = { ...init.record, experts: [...init.record.experts] };
  let seq = 0;
  let last: HostRecord | undefined;
  let running = false;
  let timer: unknown;
  let inFlight: Promise<void> | undefined;
  let again = false;
  /** CIDs (by string) provided since the last refresh, and every CID this host provides now. */
  const provided = new Set<string>();
  /** Aborted by stop()/goOffline() so that a slow refresh never delays shutdown. */
  let halt = new AbortController();

  const schedule = (ms: number | undefined) => {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    if (running && ms !== undefined) timer = timers.setTimeout(() => { timer = undefined; void publish(true); }, ms);
  };

  const nextRecord = (state: HostState): HostRecord => {
    const now = clock();
    // Microseconds of the clock: a restarted host (seq back to 0) still outranks its old records.
    seq = Math.max(seq + 1, now * 1000);
    return { ...fields, experts: [...fields.experts], state, peerId: node.peerId, seq, expiresAt: now + ttlMs };
  };

  const cidsOf = (record: HostRecord) => [swarmHostsCid(node.peerId), ...record.experts.map((e) => expertCid(record.model, e))];

  /** One put + provides (every CID when `full`, else only new ones); true when everything reached a peer. */
  const publishOnce = async (record: HostRecord, full: boolean, signal: AbortSignal): Promise<boolean> => {
    const value = await signHostRecord(record, node.privateKey);
    last = record;
    const wanted = record.state === 'OFFLINE' ? [] : cidsOf(record);
    const wantedKeys = new Set(wanted.map(String));
    for (const key of [...provided]) if (!wantedKeys.has(key)) provided.delete(key);
    const cids = full ? wanted : wanted.filter((cid) => !provided.has(String(cid)));
    const [stored, ...acks] = await Promise.all([
      node.put(hostRecordKey(node.peerId), value, { signal }).catch((err) => { log.debug('record put failed', { err }); return 0; }),
      ...cids.map((cid) => node.provide(cid, { signal }).catch((err) => { log.debug('provide failed', { cid: String(cid), err }); return 0; })),
    ]);
    cids.forEach((cid, i) => { if (acks[i] > 0) provided.add(String(cid)); });
    const ok = stored > 0 && acks.every((n) => n > 0);
    (ok ? log.debug : log.warn)('host record published', { seq: record.seq, state: record.state, peersStored: stored, provided: acks, ok });
    return ok;
  };

  const publish = (full: boolean): Promise<void> => {
    if (inFlight) { again = true; return inFlight; }
    inFlight = (async () => {
      let fullNow = full;
      do {
        again = false;
        let ok = false;
        const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), halt.signal]);
        try { ok = await publishOnce(nextRecord(fields.state ?? 'ONLINE'), fullNow, signal); } catch (err) { log.warn('publication failed', { err }); }
        failuresInARow = ok ? 0 : failuresInARow + 1;
        // A retry re-provides everything: a half-failed publication may have lost any CID.
        fullNow = !ok;
        schedule(ok ? (first ? firstRefresh() : jittered(refreshMs)) : jittered(Math.min(refreshMs, retryMs * 2 ** Math.min(20, failuresInARow - 1))));
        if (ok) first = false;
      } while (again && running);
    })().finally(() => { inFlight = undefined; });
    return inFlight;
  };

  /** Stops providing experts no longer announced (this node's own entries; remote copies expire). */
  const unprovideDropped = async (before: readonly string[], after: readonly string[]) => {
    for (const e of before) {
      if (after.includes(e)) continue;
      const cid = expertCid(fields.model, e);
      provided.delete(String(cid));
      await node.unprovide(cid).catch((err) => log.debug('unprovide failed', { expert: e, err }));
    }
  };

  return {
    async start() {
      if (running) return;
      running = true;
      first = true;
      halt = new AbortController();
      await publish(true);
    },
    async stop() {
      running = false;
      schedule(undefined);
      halt.abort();
    },
    async update(partial) {
      const before = fields.experts;
      fields = { ...fields, ...partial, experts: [...(partial.experts ?? fields.experts)] };
      await unprovideDropped(before, fields.experts);
      if (running) await publish(false);
    },
    async goOffline() {
      running = false;
      schedule(undefined);
      halt.abort();
      if (inFlight) await inFlight.catch(() => {});
      fields = { ...fields, state: 'OFFLINE' };
      const record = nextRecord('OFFLINE');
      try {
        const value = await signHostRecord(record, node.privateKey);
        last = record;
        await node.put(hostRecordKey(node.peerId), value, { signal: AbortSignal.timeout(Math.min(timeoutMs, OFFLINE_TIMEOUT_MS)) });
      } catch (err) { log.warn('offline record not published', { err }); }
    },
    current: () => last,
    failures: () => failuresInARow,
  };
}
