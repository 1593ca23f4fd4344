/**
 * The router's view of the swarm's replicas: discovery results cached per expert (served at once and
 * refreshed in the background when older than `cacheTtlMs` or after a failure; awaited only when
 * nothing is known or while waiting for a replica), the SWARM balancer fed
 * with them, and one ExpertClient per host address. `acquire` never hangs: when an expert has no
 * live replica it polls discovery for at most `noReplicaWaitMs`, then throws NoLiveReplicaError.
 *
 * With a `verify` component, a replica gets work only once it has passed its expert's probe (a
 * stateless Forward whose output must match the manifest's fingerprint), and it is checked again at
 * random times after (on its first use once `verifyEveryMs` x U(0.5, 1.5) has passed). A replica that
 * computes something else is distrusted: left out of the balancer for `distrustMs`, whatever it
 * announces meanwhile, then probed again before any work.
 */
import { NoLiveReplicaError, SwarmpathError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { Discovery, ExpertClient, HostRecord } from '../shared/transport-types.ts';
import type { FailureOutcome, ReplicaBalancer } from './replica-balancer.ts';
import type { ReplicaVerifier, VerifyResult } from './replica-verifier.ts';
import { sleep } from './sleep.ts';

export interface ReplicaPoolInit {
  model: string;
  /** How long discovery results are reused, ms (default 2000). */
  cacheTtlMs?: number;
  /** How long `acquire` waits for a live replica before NoLiveReplicaError, ms (default 10000). */
  noReplicaWaitMs?: number;
  /** Discovery polling interval while waiting, ms (default 500). */
  pollMs?: number;
  /**
   * Safety bound of one discovery query, ms (default 15000). Discovery bounds its own searches
   * (shared/dht/discovery.ts); this only guards against a query that never ends.
   */
  discoveryTimeoutMs?: number;
  /** Deadline of the Info probe a replica must pass after a ban before it gets work again, ms (default 1000). */
  probeTimeoutMs?: number;
  /** Mean interval between checks of a replica's probe, ms (default 600000; each drawn from U(0.5, 1.5) of it). */
  verifyEveryMs?: number;
  /** How long a replica that failed its probe gets no work, ms (default 600000). */
  distrustMs?: number;
}

export interface ReplicaPoolComponents {
  discovery: Discovery;
  balancer: ReplicaBalancer;
  /** Opens a client for a host's gRPC address (the real one: shared/grpc createExpertClient). */
  connect(address: string): ExpertClient;
  clock?: () => number;
  log: Logger;
  /** Called with each expert's live replica count after a discovery refresh. */
  onLiveReplicas?(expertId: string, count: number): void;
  /** Checks that a replica computes its expert (router/replica-verifier.ts); absent: no checks. */
  verify?: ReplicaVerifier;
  /** Called with each probe's outcome: 'ok', 'mismatch', or 'error' (the call failed). */
  onVerified?(expertId: string, peerId: string, result: 'ok' | 'mismatch' | 'error'): void;
  /** Uniform [0, 1) draws for the re-check intervals (default Math.random). */
  random?: () => number;
}

/** A replica chosen for a call. */
export interface Replica {
  peerId: string;
  grpc: string;
  client: ExpertClient;
}

export interface AcquireOpts {
  /** Replicas this request already failed on (tried last). */
  exclude?: ReadonlySet<string>;
  /** Work of the call, e.g. positions (balancer cost). */
  cost?: number;
  signal?: AbortSignal;
  /** Absolute deadline (ms since the epoch) of the request; the wait ends there at the latest. */
  deadlineMs?: number;
}

/** One replica as /v1/swarm shows it. */
export interface ReplicaView {
  peerId: string;
  grpc: string;
  /** Steps queued or running at the host's last announcement. */
  load: number;
  /** Positions per second measured by this router (the host's own figure until measured). */
  throughput: number;
}

export interface ReplicaPool {
  acquire(expertId: string, opts?: AcquireOpts): Promise<Replica>;
  /** A call of `work` units on the replica took `seconds` (whole call). */
  succeeded(expertId: string, peerId: string, work: number, seconds: number): void;
  /**
   * A call failed after `seconds` doing `work`; the expert's discovery cache is refreshed on next
   * use. A deadline exceeded strikes nothing but counts its time as a (slow) measurement.
   */
  failed(expertId: string, peerId: string, err: SwarmpathError, work?: number, seconds?: number): FailureOutcome;
  /** False while the replica is distrusted (its output failed its expert's probe); its sessions should move. */
  trusted(expertId: string, peerId: string): boolean;
  /** Live (not banned) replicas of each expert. */
  view(expertIds: readonly string[], opts?: { signal?: AbortSignal }): Promise<Record<string, ReplicaView[]>>;
  /** Starts discovery of these experts in the background (a router warms its cache at start). */
  warm(expertIds: readonly string[]): void;
  /** Closes every client. */
  close(): void;
}

interface CacheEntry {
  records: HostRecord[];
  fetchedAt: number;
  pending?: Promise<HostRecord[]>;
}

export function createReplicaPool(init: ReplicaPoolInit, c: ReplicaPoolComponents): ReplicaPool {
  const ttl = init.cacheTtlMs ?? 2000;
  const noReplicaWaitMs = init.noReplicaWaitMs ?? 10_000;
  const pollMs = init.pollMs ?? 500;
  const discoveryTimeoutMs = init.discoveryTimeoutMs ?? 15_000;
  const clock = c.clock ?? Date.now;
  const cache = new Map<string, CacheEntry>();
  const clients = new Map<string, ExpertClient>();
  /** Latest seq seen per expert and peer, to notice re-announcements. */
  const seqs = new Map<string, number>();
  /**
   * Replicas (`expert peer`) whose ban ran out without a re-announcement: before real work goes to
   * one again it must answer a cheap Info call, so a dead host whose record outlives it costs a
   * failed probe, not a request's replay (Petals' and SWARM's lesson: liveness from our own calls).
   */
  const probation = new Set<string>();
  const probeTimeoutMs = init.probeTimeoutMs ?? 1000;
  const verifyEveryMs = init.verifyEveryMs ?? 600_000;
  const distrustMs = init.distrustMs ?? 600_000;
  const random = c.random ?? Math.random;
  /** `expert peer` → until when its last passed probe holds, ms. */
  const verifiedUntil = new Map<string, number>();
  /** Probes in flight, shared by every request that wants the replica. */
  const verifying = new Map<string, Promise<boolean>>();
  /** `expert peer` → until when a replica that failed its probe gets no work, ms. */
  const distrusted = new Map<string, number>();
  const isDistrusted = (key: string, now: number): boolean => {
    const until = distrusted.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    distrusted.delete(key);
    return false;
  };

  /** Whether a replica on probation answers Info; a failure re-bans it (for longer). */
  const probe = async (expertId: string, peerId: string, cl: ExpertClient, signal?: AbortSignal): Promise<boolean> => {
    const key = `${expertId} ${peerId}`;
    if (!probation.has(key)) return true;
    try {
      await cl.info({ deadlineMs: clock() + probeTimeoutMs, signal });
      probation.delete(key);
      return true;
    } catch (err) {
      if (signal?.aborted) throw new SwarmpathError('CANCELLED', 'request cancelled');
      c.balancer.recordFailure(expertId, peerId, 'error', clock());
      c.log.debug('probe of a banned replica failed; banned again', { expert: expertId, host: peerId, error: err });
      return false;
    }
  };

  const client = (address: string): ExpertClient => {
    let cl = clients.get(address);
    if (!cl) {
      cl = c.connect(address);
      clients.set(address, cl);
    }
    return cl;
  };

  /**
   * Whether the replica may get work: its probe passed recently, or passes now (one probe per replica
   * at a time, whoever asks). A mismatch distrusts it; a failed call strikes it like any failed call.
   */
  const verified = async (expertId: string, peerId: string, cl: ExpertClient, signal?: AbortSignal): Promise<boolean> => {
    if (!c.verify) return true;
    const key = `${expertId} ${peerId}`;
    if ((verifiedUntil.get(key) ?? -Infinity) > clock()) return true;
    let p = verifying.get(key);
    if (!p) {
      const verify = c.verify;
      p = (async () => {
        let r: VerifyResult;
        try {
          r = await verify(expertId, cl);
        } catch (err) {
          c.onVerified?.(expertId, peerId, 'error');
          const e = err instanceof SwarmpathError ? err : new SwarmpathError('UNAVAILABLE', `probe of ${expertId} failed: ${(err as Error)?.message ?? err}`);
          c.log.debug('probe call failed', { expert: expertId, host: peerId, error: e.message });
          pool.failed(expertId, peerId, e);
          return false;
        }
        c.onVerified?.(expertId, peerId, r.type);
        const now = clock();
        if (r.type === 'ok') {
          verifiedUntil.set(key, now + verifyEveryMs * (0.5 + random()));
          return true;
        }
        verifiedUntil.delete(key);
        distrusted.set(key, now + distrustMs);
        c.log.warn(`host ${peerId} does not compute expert ${expertId} (its output fails the manifest probe); ` +
          `no work goes to it for ${Math.round(distrustMs / 1000)} s`, { got: r.got, want: r.want });
        const e = cache.get(expertId);
        if (e) apply(expertId, e.records, now);
        return false;
      })().finally(() => verifying.delete(key));
      verifying.set(key, p);
    }
    return untilAborted(p, signal);
  };

  /** Live, deduplicated (highest seq per peer) records of the expert, as discovery finds them now. */
  const query = async (expertId: string): Promise<HostRecord[]> => {
    const t0 = clock();
    const recs = (await c.discovery.replicas(init.model, expertId, { signal: AbortSignal.timeout(discoveryTimeoutMs), fresh: true }))
      .filter((r) => r.state === 'ONLINE' && r.expiresAt > t0 && r.experts.includes(expertId));
    const byPeer = new Map<string, HostRecord>();
    for (const r of recs) {
      const prev = byPeer.get(r.peerId);
      if (!prev || r.seq > prev.seq) byPeer.set(r.peerId, r);
    }
    c.log.debug('discovery', { expert: expertId, replicas: byPeer.size, ms: clock() - t0 });
    return [...byPeer.values()];
  };

  /** Makes `recs` the expert's membership in the balancer; a higher seq than seen reinstates a replica. */
  const apply = (expertId: string, all: HostRecord[], now: number): void => {
    const recs = all.filter((r) => !isDistrusted(`${expertId} ${r.peerId}`, now));
    c.balancer.setReplicas(expertId, recs.map((r) => r.peerId), now);
    for (const r of recs) {
      const key = `${expertId} ${r.peerId}`;
      const seen = seqs.get(key);
      if (seen !== undefined && r.seq > seen) {
        c.balancer.reinstate(expertId, r.peerId, now);
        probation.delete(key);
      }
      seqs.set(key, r.seq);
    }
    c.onLiveReplicas?.(expertId, recs.filter((r) => !c.balancer.isBanned(expertId, r.peerId, now)).length);
  };

  /** Starts (or joins) a discovery query for `expertId`; never rejects. */
  const refresh = (expertId: string, entry: CacheEntry): Promise<HostRecord[]> => {
    entry.pending ??= query(expertId)
      .then((recs) => {
        // An empty answer while we know unexpired records is more likely a flaky DHT query than a
        // swarm that vanished: keep those (failures strike and ban the dead ones).
        const now = clock();
        const kept = recs.length > 0 ? recs : entry.records.filter((r) => r.expiresAt > now);
        if (recs.length === 0 && kept.length > 0) c.log.debug('discovery found nothing; keeping unexpired records', { expert: expertId, kept: kept.length });
        apply(expertId, kept, now);
        entry.records = kept;
        entry.fetchedAt = now;
        return kept;
      })
      .catch((err: unknown) => {
        c.log.warn('discovery failed; using cached replicas', { expert: expertId, error: err });
        return entry.records;
      })
      .finally(() => { entry.pending = undefined; });
    return entry.pending;
  };

  /**
   * The expert's records. Stale-while-revalidate: cached records are returned at once (a stale
   * cache starts a background refresh); the caller waits only when nothing is cached or `fresh`.
   */
  const records = async (expertId: string, fresh: boolean, signal?: AbortSignal): Promise<HostRecord[]> => {
    let e = cache.get(expertId);
    if (!e) {
      e = { records: [], fetchedAt: -Infinity };
      cache.set(expertId, e);
    }
    const stale = clock() - e.fetchedAt >= ttl;
    if (!fresh && e.records.length > 0) {
      if (stale) void refresh(expertId, e);
      return e.records;
    }
    if (!fresh && !stale) return e.records;
    return untilAborted(refresh(expertId, e), signal);
  };

  const pool: ReplicaPool = {
    async acquire(expertId, opts = {}) {
      const start = clock();
      const waitUntil = Math.min(start + noReplicaWaitMs, opts.deadlineMs ?? Infinity);
      const exclude = opts.exclude;
      let fresh = false;
      for (;;) {
        if (opts.signal?.aborted) throw new SwarmpathError('CANCELLED', 'request cancelled');
        const recs = await records(expertId, fresh, opts.signal);
        const now = clock();
        const pick = c.balancer.pick(expertId, now, { cost: opts.cost, exclude });
        if (pick.type === 'ok') {
          const rec = recs.find((r) => r.peerId === pick.replica);
          if (!rec) { fresh = true; continue; }
          const cl = client(rec.grpc);
          if (await probe(expertId, rec.peerId, cl, opts.signal) && await verified(expertId, rec.peerId, cl, opts.signal)) {
            return { peerId: rec.peerId, grpc: rec.grpc, client: cl };
          }
          // Struck, banned or distrusted now; pick again, within the same bounded wait.
          if (clock() >= waitUntil) throw new NoLiveReplicaError(expertId, Math.max(1, Math.ceil(pollMs / 1000) * 5));
          continue;
        }
        // Every known replica already failed this request (their records may outlive them by up to
        // a TTL): wait, polling fresh discovery, for a replica this request has not tried — a
        // re-hosted expert — until the bounded wait ends, then NoLiveReplicaError (503 + Retry-After).
        if (now >= waitUntil) {
          const retryAfterS = Math.max(1, Math.ceil(pollMs / 1000) * 5);
          throw new NoLiveReplicaError(expertId, retryAfterS);
        }
        const untilBan = pick.type === 'wait' ? pick.untilMs - now : pollMs;
        await sleep(Math.max(1, Math.min(pollMs, untilBan, waitUntil - now)), opts.signal);
        fresh = true;
      }
    },

    succeeded(expertId, peerId, work, seconds) {
      c.balancer.recordSuccess(expertId, peerId, work, seconds);
    },

    failed(expertId, peerId, err, work, seconds) {
      const e = cache.get(expertId);
      if (e) e.fetchedAt = -Infinity;
      if (err.code === 'DEADLINE_EXCEEDED') {
        if (work !== undefined && seconds !== undefined) c.balancer.recordTimeout(expertId, peerId, work, seconds);
        return c.balancer.recordFailure(expertId, peerId, 'deadline', clock());
      }
      const outcome = c.balancer.recordFailure(expertId, peerId, 'error', clock());
      if (outcome.type === 'banned') probation.add(`${expertId} ${peerId}`);
      return outcome;
    },

    // Asked at every stage step: free while nobody is distrusted.
    trusted: (expertId, peerId) => distrusted.size === 0 || !isDistrusted(`${expertId} ${peerId}`, clock()),

    async view(expertIds, opts = {}) {
      const out: Record<string, ReplicaView[]> = {};
      await Promise.all(expertIds.map(async (id) => {
        const recs = await records(id, false, opts.signal);
        const now = clock();
        const stats = new Map(c.balancer.stats(id).map((s) => [s.replica, s]));
        out[id] = recs.filter((r) => !c.balancer.isBanned(id, r.peerId, now) && !isDistrusted(`${id} ${r.peerId}`, now)).map((r) => {
          const s = stats.get(r.peerId);
          return {
            peerId: r.peerId, grpc: r.grpc, load: r.queueDepth,
            throughput: s?.measured ? round(s.throughput) : r.throughput,
          };
        });
      }));
      return Object.fromEntries(expertIds.map((id) => [id, out[id]]));
    },

    warm(expertIds) {
      for (const id of expertIds) void records(id, false).catch(() => {});
    },

    close() {
      for (const cl of clients.values()) {
        try { cl.close(); } catch { /* already closed */ }
      }
      clients.clear();
    },
  };
  return pool;
}

/** `p`, or a CANCELLED rejection as soon as `signal` aborts (the shared query goes on for others). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new SwarmpathError('CANCELLED', 'request cancelled'));
    if (signal.aborted) { onAbort(); return; }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
