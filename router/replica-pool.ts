/**
 * The router's view of the swarm's replicas: discovery results cached per expert
 * (./discovery-cache.ts: served at once, refreshed in the background when stale — see `cacheTtlMs` —
 * awaited only when nothing is known or while waiting for a replica), the SWARM balancer fed with
 * them, and one ExpertClient per host address. `acquire` never hangs: when an
 * expert has no live replica it polls discovery for at most `noReplicaWaitMs`, then throws
 * NoLiveReplicaError.
 *
 * With a `verify` component (./replica-verification.ts), a replica gets work only once it has passed
 * its expert's probe, and it is checked again at random times after; one that computes something
 * else is distrusted for `distrustMs`. Each discovery refresh also probes, in the background, every
 * live replica that has not passed its probe yet, so that `readiness` turns true without traffic.
 */
import { LRUCache } from 'lru-cache';
import { NoLiveReplicaError, CancelledError } from '../shared/errors.ts';
import type { ExpertClient, HostRecord } from '../shared/transport-types.ts';
import { discoveryCache } from './discovery-cache.ts';
import { answersAs, countedLearn, FIRST_VIEW, firstView, type AuditResult } from '../shared/dht/first-view.ts';
import type { ReplicaPool, ReplicaPoolComponents, ReplicaPoolInit, ReplicaView } from './replica-pool-types.ts';
import { replicaVerification } from './replica-verification.ts';
import { createCrossChecker } from './cross-check.ts';
import { identityChecks } from './identity-check.ts';
import { sleep } from './sleep.ts';

/** Host clients (gRPC channels) kept at most. */
const CLIENTS_MAX = 1024;
/** `expert peer` sequence numbers remembered at most. */
const SEQS_MAX = 16_384;

function closeQuietly(cl: ExpertClient): void {
  try { cl.close(); } catch { /* already closed */ }
}

export type { AcquireOpts, Replica, ReplicaPool, ReplicaPoolComponents, ReplicaPoolInit, ReplicaView } from './replica-pool-types.ts';

export function createReplicaPool(init: ReplicaPoolInit, c: ReplicaPoolComponents): ReplicaPool {
  const ttl = init.cacheTtlMs ?? 30_000;
  const noReplicaWaitMs = init.noReplicaWaitMs ?? 10_000;
  const pollMs = init.pollMs ?? 500;
  const probeTimeoutMs = init.probeTimeoutMs ?? 1000;
  const clock = c.clock ?? Date.now;
  /**
   * One client per host address, the least recently acquired closed past CLIENTS_MAX (a session
   * still on an evicted client fails over by replay, as on any broken stream).
   */
  const clients = new LRUCache<string, ExpertClient>({ max: CLIENTS_MAX, dispose: (cl) => closeQuietly(cl) });
  /** Latest seq seen per expert and peer, to notice re-announcements. */
  const seqs = new LRUCache<string, number>({ max: SEQS_MAX });
  /**
   * Replicas (`expert peer`) whose ban ran out without a re-announcement: before real work goes to
   * one again it must answer a cheap Info call, so a dead host whose record outlives it costs a
   * failed probe, not a request's replay (Petals' and SWARM's lesson: liveness from our own calls).
   */
  const probation = new Set<string>();
  let closed = false;

  const client = (address: string): ExpertClient => {
    let cl = clients.get(address);
    if (!cl) {
      cl = c.connect(address);
      clients.set(address, cl);
    }
    return cl;
  };

  const trust = replicaVerification({ verifyEveryMs: init.verifyEveryMs, distrustMs: init.distrustMs }, {
    verify: c.verify, clock, random: c.random ?? Math.random, log: c.log, onVerified: c.onVerified,
    onProbeError: (expertId, peerId, err) => { pool.failed(expertId, peerId, err); },
    onDistrusted: (expertId, now) => {
      const recs = cache.cached(expertId);
      if (recs) apply(expertId, recs, now);
    },
  });
  const identity = init.checkIdentity ? identityChecks({ timeoutMs: probeTimeoutMs * 2 }, { clock, log: c.log }) : undefined;
  /** Whether the record's endpoint is its peer's (see ./identity-check.ts); an impostor's peer id is distrusted. */
  const provesIdentity = async (expertId: string, rec: HostRecord, cl: ExpertClient, signal?: AbortSignal): Promise<boolean> => {
    if (!identity) return true;
    const v = await identity.check(rec.peerId, rec.grpc, cl, signal);
    if (v.type === 'ok') return true;
    if (signal?.aborted) throw new CancelledError('request cancelled');
    if (v.type === 'impostor') {
      trust.distrustHost(rec.peerId, undefined, clock());
      const recs = cache.cached(expertId);
      if (recs) apply(expertId, recs, clock());
    } else {
      pool.failed(expertId, rec.peerId, v.error);
    }
    return false;
  };
  const recheckMs = Math.min(ttl, init.recheckMs ?? 5000);
  const cache = discoveryCache({ model: init.model, queryTimeoutMs: init.discoveryTimeoutMs ?? 15_000 }, {
    discovery: c.discovery, clock, log: c.log,
    onRecords: (expertId, recs, now) => apply(expertId, recs, now),
    maxAgeMs: (expertId, recs, now) => {
      if (recs.length === 0) return Math.min(ttl, pollMs);
      return recs.some((r) => c.balancer.isBanned(expertId, r.peerId, now)) ? recheckMs : ttl;
    },
  });

  /** Whether the replica may be offered: not banned, not distrusted (by peer id or address). */
  const live = (expertId: string, r: HostRecord, now: number): boolean =>
    !c.balancer.isBanned(expertId, r.peerId, now) && !trust.distrusted(expertId, r.peerId, now, r.grpc);

  /** Probes, in the background, every live replica among `recs` that has not passed its probe. */
  const probeUnverified = (expertId: string, recs: readonly HostRecord[], now: number): void => {
    if (closed || !c.verify) return;
    for (const r of recs) if (live(expertId, r, now)) trust.checkInBackground(expertId, r.peerId, client(r.grpc));
  };

  /**
   * Makes `all` the expert's membership in the balancer. A banned replica that re-announces (a higher
   * seq) is reinstated on probation: it gets work again only after it answers an Info call.
   */
  const apply = (expertId: string, all: HostRecord[], now: number): void => {
    const recs = all.filter((r) => !trust.distrusted(expertId, r.peerId, now, r.grpc));
    c.balancer.setReplicas(expertId, recs.map((r) => r.peerId), now);
    for (const r of recs) {
      const key = `${expertId} ${r.peerId}`;
      const seen = seqs.get(key);
      if (seen !== undefined && r.seq > seen && c.balancer.isBanned(expertId, r.peerId, now)) {
        c.balancer.reinstate(expertId, r.peerId, now);
        probation.add(key);
      }
      seqs.set(key, r.seq);
    }
    c.onLiveReplicas?.(expertId, recs.filter((r) => !c.balancer.isBanned(expertId, r.peerId, now)).length);
    probeUnverified(expertId, recs, now);
  };

  /** Whether a replica on probation answers Info; a failure re-bans it (for longer). */
  const answersInfo = async (expertId: string, peerId: string, cl: ExpertClient, signal?: AbortSignal): Promise<boolean> => {
    const key = `${expertId} ${peerId}`;
    if (!probation.has(key)) return true;
    try {
      await cl.info({ deadlineMs: clock() + probeTimeoutMs, signal });
      probation.delete(key);
      return true;
    } catch (err) {
      if (signal?.aborted) throw new CancelledError('request cancelled');
      c.balancer.recordFailure(expertId, peerId, 'error', clock());
      c.log.debug('probe of a banned replica failed; banned again', { expert: expertId, host: peerId, error: err });
      return false;
    }
  };

  const pool: ReplicaPool = {
    async acquire(expertId, opts = {}) {
      const start = clock();
      const waitUntil = Math.min(start + noReplicaWaitMs, opts.deadlineMs ?? Infinity);
      const retryAfterS = Math.max(1, Math.ceil(pollMs / 1000) * 5);
      let fresh = false;
      for (;;) {
        if (opts.signal?.aborted) throw new CancelledError('request cancelled');
        const recs = await cache.records(expertId, fresh, opts.signal);
        const now = clock();
        const pick = c.balancer.pick(expertId, now, { cost: opts.cost, exclude: opts.exclude });
        if (pick.type === 'ok') {
          const rec = recs.find((r) => r.peerId === pick.replica);
          if (!rec) { fresh = true; continue; }
          const cl = client(rec.grpc);
          if (await provesIdentity(expertId, rec, cl, opts.signal) && await answersInfo(expertId, rec.peerId, cl, opts.signal) &&
            await trust.check(expertId, rec.peerId, cl, opts.signal)) {
            return { peerId: rec.peerId, grpc: rec.grpc, client: cl };
          }
          // Struck, banned or distrusted now; pick again, within the same bounded wait.
          if (clock() >= waitUntil) throw new NoLiveReplicaError(expertId, retryAfterS);
          continue;
        }
        // Every known replica already failed this request (their records may outlive them by up to
        // a TTL): wait, polling fresh discovery, for a replica this request has not tried — a
        // re-hosted expert — until the bounded wait ends, then NoLiveReplicaError (503 + Retry-After).
        if (now >= waitUntil) throw new NoLiveReplicaError(expertId, retryAfterS);
        const untilBan = pick.type === 'wait' ? pick.untilMs - now : pollMs;
        await sleep(Math.max(1, Math.min(pollMs, untilBan, waitUntil - now)), opts.signal);
        fresh = true;
      }
    },

    succeeded(expertId, peerId, work, seconds) {
      c.balancer.recordSuccess(expertId, peerId, work, seconds);
    },

    failed(expertId, peerId, err, work, seconds) {
      cache.invalidate(expertId);
      // The host moved away from the expert, or is gone or going: its cached record (and lingering
      // provider entry) may still say otherwise. The next lookup fetches its record afresh, which
      // drops it from the expert (moved, OFFLINE) or keeps it (a passing failure).
      if (err.code === 'UNKNOWN_EXPERT' || err.code === 'UNAVAILABLE') c.discovery.forget?.(peerId);
      if (err.code === 'DEADLINE_EXCEEDED') {
        if (work !== undefined && seconds !== undefined) c.balancer.recordTimeout(expertId, peerId, work, seconds);
        return c.balancer.recordFailure(expertId, peerId, 'deadline', clock());
      }
      const outcome = c.balancer.recordFailure(expertId, peerId, 'error', clock());
      if (outcome.type === 'banned') probation.add(`${expertId} ${peerId}`);
      return outcome;
    },

    trusted: (expertId, peerId) => trust.trusted(expertId, peerId),

    distrustHost(peerId, address, reason) {
      const now = clock();
      trust.distrustHost(peerId, address, now);
      c.log.warn(`host ${peerId} at ${address} computes wrong results (${reason}); no work goes to it or its address`, { host: peerId, address });
      c.onDistrustedHost?.(peerId, address);
      for (const expertId of cache.experts()) {
        const recs = cache.cached(expertId);
        if (recs) apply(expertId, recs, now);
      }
    },

    crossCheck: init.spotCheck === undefined ? undefined : createCrossChecker({ ...init.spotCheck }, {
      acquire: (expertId, opts) => pool.acquire(expertId, opts),
      distrust: (peerId, address, reason) => pool.distrustHost(peerId, address, reason),
      random: c.random ?? Math.random, clock, log: c.log, onResult: c.onCrossCheck,
    }),

    async view(expertIds, opts = {}) {
      const out: Record<string, ReplicaView[]> = {};
      await Promise.all(expertIds.map(async (id) => {
        const recs = await cache.records(id, false, opts.signal);
        const now = clock();
        const stats = new Map(c.balancer.stats(id).map((s) => [s.replica, s]));
        out[id] = recs.filter((r) => live(id, r, now)).map((r) => {
          const s = stats.get(r.peerId);
          return {
            peerId: r.peerId, grpc: r.grpc, load: r.queueDepth,
            throughput: s?.measured ? round(s.throughput) : r.throughput,
          };
        });
      }));
      return Object.fromEntries(expertIds.map((id) => [id, out[id]]));
    },

    async readiness(expertIds, opts = {}) {
      const served = new Set<string>();
      await Promise.all(expertIds.map(async (id) => {
        const recs = await cache.records(id, false, opts.signal);
        const now = clock();
        if (recs.some((r) => live(id, r, now) && trust.passed(id, r.peerId))) served.add(id);
        // A replica whose ban ran out since the last refresh gets its probe now, not at the next one.
        else probeUnverified(id, recs, now);
      }));
      const missing = expertIds.filter((id) => !served.has(id));
      return { ready: missing.length === 0, missing };
    },

    warm(expertIds) {
      const learn = c.discovery.learn?.bind(c.discovery);
      if (!learn || expertIds.length <= FIRST_VIEW.probes) {
        for (const id of expertIds) void cache.records(id, false).catch(() => {});
        return;
      }
      // A first view (shared/dht/first-view.ts): a few searches, then the records the hosts found
      // know; uses of other experts wait for it, and only experts it did not cover are searched for.
      const counted = countedLearn(learn);
      // The audit (first-view.ts): a sample of what each host shared must answer Info as the peer it names.
      let audit: AuditResult = { probed: 0, doubted: 0, dropped: 0 };
      const probe = async (r: HostRecord): Promise<boolean> => {
        try {
          return answersAs((await client(r.grpc).info({ deadlineMs: clock() + probeTimeoutMs })).peerId, r.peerId);
        } catch {
          return false;
        }
      };
      const learning = firstView((id) => cache.records(id, false), counted.learn, init.model, expertIds, FIRST_VIEW, clock,
        { probe, random: c.random, onAudit: (a) => { audit = a; } })
        .then((byExpert) => {
          for (const [id, recs] of byExpert) cache.seed(id, recs);
          c.log.info('first view of the swarm', { experts: expertIds.length, covered: byExpert.size, ...counted.counts, doubted: audit.doubted, dropped: audit.dropped });
        });
      cache.awaitFirstView(learning, expertIds.slice(0, FIRST_VIEW.probes));
      void learning.catch(() => {}).then(() => { for (const id of expertIds) void cache.records(id, false).catch(() => {}); });
    },

    close() {
      closed = true;
      clients.clear();
    },
  };
  return pool;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
