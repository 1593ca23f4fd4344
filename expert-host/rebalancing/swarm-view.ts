/**
 * The view a rebalancing check decides on, read at a cost that depends on the model and on what this
 * host serves, not on the number of hosts (issue 10).
 *
 * Provider lookups (records come from discovery's cache, fetched once per record lifetime) give the
 * holders of the experts looked at: every expert of a model with at most `fullViewExperts`; else this
 * host's own experts, the experts seen thinly served (or losing hosts) in the last `watchMs`, and
 * random others. How many others (sampleSize): enough that the swarm's checks together look at each
 * expert about `sampleCoverage` times per interval. N hosts serving `own` experts each hold
 * E x h = N x own expert slots (h: holders per expert, measured by the checks), so N checks of
 * s samples each look at an expert N x s / E = s x h / own times: s = coverage x own / h, at most
 * `sampleExperts`, its fraction drawn at random. A larger swarm samples less per host, so a host's
 * lookups per check do not grow with the swarm (they shrink). A decision is made among the experts
 * looked at.
 * Liveness is checked with Info calls only where a decision depends on it, at most `maxProbes` per check:
 *   1. `targetReplicas + 1` holders of each of this host's own experts (may it leave one?);
 *   2. the holders of experts with at most `targetReplicas + 1` of them (is one under-provisioned,
 *      or unserved?);
 *   3. `sampleProbes` random other holders, so that a crash anywhere is noticed by some check;
 *   4. when a probe finds a dead host, the other holders of its experts (did an expert lose them all?);
 *      its experts not looked at yet are looked up in the same check (an event, not a poll, finds a
 *      lost expert) and stay watched.
 * An Info answer counts for `aliveTtlMs`, a refused one keeps the host out for `deadTtlMs`: dead
 * hosts' provider entries outlive them (node.ts, PROVIDER_VALIDITY_MS) and must not count as supply.
 * A probed host's experts and load come from its Info answer, fresher than its record. A host that
 * is only slow (deadline exceeded) is kept: slow is not dead.
 *
 * Supply and verification: with a `verify` source, each expert a probed host claims must pass its
 * manifest probe (a stateless Forward, shared/model/probe-verifier.ts) before it counts; a pass stands
 * for `verifiedTtlMs`, and a host whose output fails is left out, like a dead one, for `distrustMs`.
 * Holders not probed yet count with their records (pending) so that a young view does not see false
 * rescues, and an expert with at most `targetReplicas + 1` *verified* holders gets its unverified
 * holders probed first (priority 2): a lying host that claims a needy expert is examined before its
 * claim can hide the need for long.
 *
 * A *focused* view (`view.focused(signal, experts)`) looks at the named experts only: their holders,
 * probed by the same rules, with the demand of the last full view. A move's confirmations (migrator.ts:
 * is it still worth it, may the old expert go) read nothing else, so they cost two lookups instead of
 * a check's whole sample; at 64 simulated hosts on 2 cores a full view took 20 s (p50), and a move
 * made four of them. A focused view changes neither the watch list, nor the sample size, nor demand.
 */
import { LRUCache } from 'lru-cache';
import { SwarmpathError, UnavailableError } from '../../shared/errors.ts';
import type { HostInfo, HostRecord } from '../../shared/transport-types.ts';
import { answersAs } from '../../shared/dht/first-view.ts';
import { infoNonce, verifyInfoSignature } from '../../shared/identity.ts';
import { measureDemand, smoothDemand, type OwnExpertLoad } from './demand.ts';
import type { ViewInput } from './migrator.ts';
import type { RebalanceOptions } from './types.ts';

/** The Info call a check makes, per gRPC address, and the probe of a claimed expert. */
export interface InfoSource {
  /** `nonce`: the host signs it with its libp2p key (shared/identity.ts). */
  info(address: string, deadlineMs: number, signal?: AbortSignal, nonce?: Uint8Array): Promise<HostInfo>;
  /** Runs `expertId`'s manifest probe on the host: 'ok' or 'mismatch'; rejects when the call fails. */
  verify?(address: string, expertId: string, signal?: AbortSignal): Promise<'ok' | 'mismatch'>;
}

export interface SwarmViewInit {
  model: string;
  /** Every expert id of the model. */
  experts: readonly string[];
  peerId: string;
  targetReplicas: number;
  /** Info calls per check at most (default 32). */
  maxProbes?: number;
  /** Models with at most this many experts are looked at whole at every check (default 16). */
  fullViewExperts?: number;
  /** Random other experts looked at per check in larger models, at most (default 4). */
  sampleExperts?: number;
  /** Times per interval the swarm's checks together should look at each expert (default 2). */
  sampleCoverage?: number;
  /** How long a thinly served expert stays on the watch list, ms (default 600000). */
  watchMs?: number;
  /** Random other holders probed per check (default 4). */
  sampleProbes?: number;
  /** How long an Info answer stands for the host's liveness and load, ms (default 30000). */
  aliveTtlMs?: number;
  /** How long a host that refused an Info call is left out, ms (default 120000). */
  deadTtlMs?: number;
  /** Deadline of one Info call, ms (default 2000). */
  probeTimeoutMs?: number;
  /** Require each probed holder's endpoint to prove its record's peer id (a signed nonce); default false. */
  checkIdentity?: boolean;
  /** How long a passed probe of a holder's expert stands, ms (default 1800000). */
  verifiedTtlMs?: number;
  /** How long a holder whose probe failed is left out, ms (default 600000). */
  distrustMs?: number;
  /** EMA weight of a new demand sample (default 0.3). */
  demandAlpha?: number;
  options?: Partial<RebalanceOptions>;
}

export interface SwarmViewComponents {
  /** Live records of an expert's providers (shared/dht/discovery.ts `replicas`). */
  replicas(model: string, expertId: string, opts: { signal: AbortSignal; fresh: boolean; cachedRecords: boolean }): Promise<HostRecord[]>;
  info: InfoSource;
  /** This host's own per-expert load (fresher than its record). */
  ownLoad(): ReadonlyMap<string, OwnExpertLoad>;
  /** The experts this host serves now. */
  served(): readonly string[];
  random?: () => number;
  clock?: () => number;
}

/** A fresh view per call (demand smoothed across calls), and a focused one (see the file comment). */
export interface SwarmView {
  (signal: AbortSignal): Promise<ViewInput>;
  /** The holders of `experts` only, with the last full view's demand; `experts` of the result: the last full view's and these. */
  focused(signal: AbortSignal, experts: readonly string[]): Promise<ViewInput>;
}

/** Returns the view function (a fresh view per call, demand smoothed across calls). */
export function createSwarmView(init: SwarmViewInit, c: SwarmViewComponents): SwarmView {
  const clock = c.clock ?? Date.now;
  const random = c.random ?? Math.random;
  const maxProbes = init.maxProbes ?? 32;
  const sampleProbes = init.sampleProbes ?? 4;
  const timeoutMs = init.probeTimeoutMs ?? 2000;
  const alive = new LRUCache<string, HostInfo>({ max: 4096, ttl: init.aliveTtlMs ?? 30_000, ttlResolution: 0, perf: { now: clock } });
  const dead = new LRUCache<string, true>({ max: 4096, ttl: init.deadTtlMs ?? 120_000, ttlResolution: 0, perf: { now: clock } });
  const watched = new LRUCache<string, true>({ max: 4096, ttl: init.watchMs ?? 600_000, ttlResolution: 0, perf: { now: clock } });
  /** `peer expert` pairs whose probe passed. */
  const verified = new LRUCache<string, true>({ max: 16_384, ttl: init.verifiedTtlMs ?? 1_800_000, ttlResolution: 0, perf: { now: clock } });
  const liars = new LRUCache<string, true>({ max: 4096, ttl: init.distrustMs ?? 600_000, ttlResolution: 0, perf: { now: clock } });

  /** The experts of `info` that passed their probe on `r`'s host (all of them without a verify source). */
  const verifiedExperts = async (r: HostRecord, info: HostInfo, signal: AbortSignal): Promise<HostInfo | 'liar'> => {
    const verify = c.info.verify;
    if (!verify) return info;
    const ok: HostInfo['experts'] = [];
    for (const e of info.experts) {
      const key = `${r.peerId} ${e.expertId}`;
      if (verified.has(key)) { ok.push(e); continue; }
      try {
        if (await verify.call(c.info, r.grpc, e.expertId, signal) === 'mismatch') { liars.set(r.peerId, true); return 'liar'; }
        verified.set(key, true);
        ok.push(e);
      } catch (err) {
        if (signal.aborted) throw err;
        // Unverified for now (slow or flaky): not counted, asked again at the next check.
      }
    }
    return { ...info, experts: ok };
  };
  let smoothed: Map<string, number> | undefined;
  /** Mean holders per expert looked at, from the last check (undefined before the first): sizes the sample. */
  let holdersPerExpert: number | undefined;

  /** Info of `r`'s host: cached, or asked now; undefined while it is only slow; 'dead' when it refused. */
  const probe = async (r: HostRecord, signal: AbortSignal): Promise<HostInfo | 'dead' | undefined> => {
    const hit = alive.get(r.peerId);
    if (hit) return hit;
    try {
      const nonce = init.checkIdentity ? infoNonce() : undefined;
      const answer = await c.info.info(r.grpc, clock() + timeoutMs, signal, nonce);
      if (answer.state !== 'ONLINE' || !answersAs(answer.peerId, r.peerId)) throw new UnavailableError('not this peer, or not online');
      // An endpoint that cannot prove the record's identity is not that peer's: left out like a liar.
      if (nonce && !(await verifyInfoSignature(r.peerId, nonce, answer.identitySignature))) { liars.set(r.peerId, true); return 'dead'; }
      const info = await verifiedExperts(r, answer, signal);
      if (info === 'liar') return 'dead';
      alive.set(r.peerId, info);
      return info;
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof SwarmpathError && err.code === 'DEADLINE_EXCEEDED') return undefined;
      dead.set(r.peerId, true);
      return 'dead';
    }
  };

  /** What the last full view decided on: its experts and options (a focused view answers with them). */
  let lastFull: Pick<ViewInput, 'experts' | 'options'> | undefined;

  /**
   * The live holders of `experts` (probed as the file comment says) and the suspect experts (a dead
   * holder's); a full view also looks up a suspect expert it had not looked at, adding it to `experts`.
   */
  const look = async (signal: AbortSignal, experts: string[], served: readonly string[], focused: boolean) => {
    const isOut = (p: string) => dead.has(p) || liars.has(p);
    const unanswered = new Set<string>();
    const holders = await holdersOf({ ...init, experts }, c, signal, isOut, unanswered);
    const budget = { left: maxProbes };
    const infos = new Map<string, HostInfo>();
    const probeAll = async (peers: Iterable<string>): Promise<string[]> => {
      const todo = [...new Set(peers)].filter((p) => holders.has(p) && !infos.has(p) && !dead.has(p)).slice(0, Math.max(0, budget.left));
      budget.left -= todo.filter((p) => !alive.has(p)).length;
      const verdicts = await Promise.all(todo.map(async (p) => [p, await probe(holders.get(p)!, signal)] as const));
      const died: string[] = [];
      for (const [p, v] of verdicts) {
        if (v === 'dead') died.push(p);
        else if (v) infos.set(p, v);
      }
      return died;
    };
    const isVerified = (peerId: string, expertId: string) => !c.info.verify || verified.has(`${peerId} ${expertId}`);
    const died = await probeAll(priorityPeers({ ...init, experts }, served, holders, focused ? 0 : sampleProbes, random, isVerified));
    // A dead holder's experts: looked up now in a full view; a focused view stays on its experts.
    const suspect = new Set(died.flatMap((p) => holders.get(p)!.experts).filter((e) => !focused || experts.includes(e)));
    const unlooked = init.experts.filter((e) => suspect.has(e) && !experts.includes(e));
    if (unlooked.length > 0) {
      for (const [p, r] of await holdersOf({ ...init, experts: unlooked }, c, signal, isOut, unanswered)) if (!holders.has(p)) holders.set(p, r);
      experts.push(...unlooked);
      experts.sort((a, b) => init.experts.indexOf(a) - init.experts.indexOf(b));
    }
    if (died.length > 0) await probeAll([...holders.values()].filter((r) => r.experts.some((e) => suspect.has(e))).map((r) => r.peerId));
    // A probed holder counts with the experts it verified; one not probed yet with its record's (pending).
    const hosts = [...holders.values()].filter((r) => !dead.has(r.peerId) && !liars.has(r.peerId)).map((r) => withInfo(r, infos.get(r.peerId)));
    // An expert whose lookup got no answer is left out of the decision (it is not known to be unserved);
    // an own one stays, counted with this host only, so that this host never leaves it on no evidence.
    const known = (e: string) => !unanswered.has(e) || served.includes(e);
    for (let i = experts.length - 1; i >= 0; i--) if (!known(experts[i])) experts.splice(i, 1);
    return { hosts, suspect, unanswered };
  };

  const view = async (signal: AbortSignal): Promise<ViewInput> => {
    const served = c.served();
    const experts = expertsToLook(init, served, (e) => watched.has(e), random, sampleSize(init, served.length, holdersPerExpert, random));
    const { hosts, suspect, unanswered } = await look(signal, experts, served, false);
    for (const e of unanswered) if (!served.includes(e)) watched.set(e, true);
    const others = experts.map((e) => hosts.filter((h) => h.experts.includes(e)).length);
    experts.forEach((e, i) => {
      if (suspect.has(e) || others[i] <= init.targetReplicas + 1) watched.set(e, true);
      else watched.delete(e);
    });
    holdersPerExpert = experts.reduce((a, e, i) => a + others[i] + (served.includes(e) ? 1 : 0), 0) / Math.max(1, experts.length);
    const raw = measureDemand(experts, hosts, { own: { peerId: init.peerId, perExpert: c.ownLoad() } });
    smoothed = smoothDemand(smoothed, raw, init.demandAlpha ?? 0.3);
    // In a sampled view few hosts see a lost expert at once, so damping by the movers in the view
    // (decide.ts) would leave it unserved for minutes: rescues are not damped; a surplus rescuer
    // aborts at its final check (moveStillWorthwhile, decideFinish).
    const sampled = experts.length < init.experts.length;
    lastFull = { experts, options: sampled ? { ...init.options, rescueBoost: Infinity } : init.options };
    return { hosts, targetReplicas: init.targetReplicas, demand: smoothed, ...lastFull };
  };

  const focused = async (signal: AbortSignal, focus: readonly string[]): Promise<ViewInput> => {
    const experts = init.experts.filter((e) => focus.includes(e));
    const served = c.served().filter((e) => focus.includes(e));
    const { hosts, unanswered } = await look(signal, experts, served, true);
    // Demand weights are relative to the mean over the experts decided on: the last full view's.
    const decidedOn = (lastFull?.experts ?? init.experts).filter((e) => !unanswered.has(e) || served.includes(e));
    return {
      experts: init.experts.filter((e) => decidedOn.includes(e) || experts.includes(e)), hosts, targetReplicas: init.targetReplicas,
      demand: smoothed ?? new Map(), options: lastFull?.options ?? init.options,
    };
  };

  return Object.assign(view, { focused });
}

/**
 * Random other experts a check looks at (see the file comment): `coverage x own / holdersPerExpert`,
 * at most `sampleExperts`, the fraction drawn (so that the mean is exact); `sampleExperts` before the
 * first check has measured the swarm.
 */
export function sampleSize(init: Pick<SwarmViewInit, 'sampleExperts' | 'sampleCoverage'>, own: number, holdersPerExpert: number | undefined, random: () => number): number {
  const most = init.sampleExperts ?? 4;
  if (holdersPerExpert === undefined || holdersPerExpert <= 0) return most;
  const want = Math.min(most, ((init.sampleCoverage ?? 2) * Math.max(1, own)) / holdersPerExpert);
  const whole = Math.floor(want);
  return whole + (random() < want - whole ? 1 : 0);
}

/** The experts a check looks at (see the file comment), in the model's order. */
export function expertsToLook(init: Pick<SwarmViewInit, 'experts' | 'fullViewExperts'>, served: readonly string[],
  isWatched: (expertId: string) => boolean, random: () => number, sample: number): string[] {
  if (init.experts.length <= (init.fullViewExperts ?? 16)) return [...init.experts];
  const pick = new Set(init.experts.filter((e) => served.includes(e) || isWatched(e)));
  const others = shuffle(init.experts.filter((e) => !pick.has(e)), random);
  for (const e of others.slice(0, sample)) pick.add(e);
  return init.experts.filter((e) => pick.has(e));
}

/**
 * Every expert's providers' live records, one per peer (highest seq), self and known-dead left out;
 * and the experts whose lookup failed (no answer in time: discovery rejects rather than say "none").
 */
async function holdersOf(init: SwarmViewInit, c: SwarmViewComponents, signal: AbortSignal, isDead: (peerId: string) => boolean,
  unanswered: Set<string>): Promise<Map<string, HostRecord>> {
  const lists = await Promise.all(init.experts.map((e) => c.replicas(init.model, e, { signal, fresh: true, cachedRecords: true }).catch((err: unknown) => {
    if (signal.aborted) throw err;
    unanswered.add(e);
    return [];
  })));
  const out = new Map<string, HostRecord>();
  for (const r of lists.flat()) {
    if (r.peerId === init.peerId || r.model !== init.model || isDead(r.peerId)) continue;
    const prev = out.get(r.peerId);
    if (!prev || r.seq > prev.seq) out.set(r.peerId, r);
  }
  return out;
}

/**
 * Peers to probe, most needed first: `targetReplicas + 1` random holders of each own expert (enough
 * to know whether this host may leave it), every holder of a thinly served expert, then a random
 * sample of the rest.
 */
function priorityPeers(init: SwarmViewInit, served: readonly string[], holders: ReadonlyMap<string, HostRecord>, sample: number,
  random: () => number, isVerified: (peerId: string, expertId: string) => boolean = () => true): string[] {
  const byExpert = new Map<string, string[]>();
  for (const r of holders.values()) for (const e of r.experts) byExpert.set(e, [...(byExpert.get(e) ?? []), r.peerId]);
  const first: string[] = [];
  for (const e of served) first.push(...shuffle(byExpert.get(e) ?? [], random).slice(0, init.targetReplicas + 1));
  for (const e of init.experts) {
    const list = byExpert.get(e) ?? [];
    if (list.length <= init.targetReplicas + 1) first.push(...list);
    // Few verified holders: the unverified ones are examined before they count for long.
    else if (list.filter((p) => isVerified(p, e)).length <= init.targetReplicas + 1) first.push(...shuffle(list.filter((p) => !isVerified(p, e)), random));
  }
  const picked = new Set(first);
  const rest = shuffle([...holders.keys()].filter((p) => !picked.has(p)), random);
  return [...picked, ...rest.slice(0, sample)];
}

/** A uniformly shuffled copy (Fisher-Yates). */
function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The record with experts, state and load from a fresh Info answer, when there is one. */
function withInfo(r: HostRecord, info: HostInfo | undefined): HostRecord {
  if (!info) return r;
  return { ...r, experts: info.experts.map((e) => e.expertId), state: info.state, queueDepth: info.queueDepth, throughput: info.throughput };
}
