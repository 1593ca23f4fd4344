/**
 * SWARM's stochastic wiring as a pure structure (no I/O, no clock of its own: `now` is handed in).
 *
 * Per stage (an expert id) a min-heap of (virtual time, replica). `pick` pops the replica with the
 * smallest virtual time and pushes it back with `vt + cost / throughput`, so over many picks each
 * replica's share of the work converges to `t_i / sum(t)`. Throughput is the router's own
 * bias-corrected EMA of work per second over whole calls (see throughput-ema.ts); a replica not yet
 * measured counts at the mean of its stage's measured replicas (1 unit/s when none is measured).
 * A new replica enters at the heap minimum and wins ties, so it is tried at once.
 *
 * Failures: a deadline exceeded strikes nothing (the caller retries elsewhere) but counts as a
 * measurement (`recordTimeout`); any other failure is a strike, and `strikesToBan` in a row ban the
 * replica for `banBaseMs * 2^k` (k = bans so far, capped at `banMaxMs`). A success clears strikes and
 * the ban level. A banned replica comes back when its ban expires (one failure then bans it for
 * twice as long) or at once when it re-announces (`reinstate`).
 */
import { MinHeap } from './min-heap.ts';
import { DEFAULT_EMA_ALPHA, ThroughputEma } from './throughput-ema.ts';

export interface ReplicaBalancerInit {
  /** Failures in a row before a ban (default 3). */
  strikesToBan?: number;
  /** First ban length in ms (default 2000); doubles with each ban. */
  banBaseMs?: number;
  /** Longest ban in ms (default 60000). */
  banMaxMs?: number;
  /** EMA smoothing factor (default 0.1). */
  alpha?: number;
}

/** The result of a pick: a replica, the time the first banned one comes back, or nothing at all. */
export type PickResult =
  | { type: 'ok'; replica: string }
  | { type: 'wait'; untilMs: number }
  | { type: 'none' };

export type FailureKind = 'deadline' | 'error';

/** What a reported failure did to the replica. */
export type FailureOutcome =
  | { type: 'ignored' }
  | { type: 'strike'; strikes: number }
  | { type: 'banned'; untilMs: number };

export interface PickOpts {
  /** Work this call will do (same unit as the work reported to `recordSuccess`); default 1. */
  cost?: number;
  /** Replicas not to pick (already tried by this request). */
  exclude?: ReadonlySet<string>;
}

/** A snapshot of one replica, for /v1/swarm, metrics and tests. */
export interface ReplicaStats {
  replica: string;
  /** Work per second: measured, or the stage prior when `measured` is false. */
  throughput: number;
  measured: boolean;
  virtualTime: number;
  strikes: number;
  /** ms since the epoch until which the replica is banned; 0 when not banned. */
  bannedUntilMs: number;
  picks: number;
}

interface Entry {
  replica: string;
  vt: number;
  /** Entered the heap and not yet picked: wins ties. */
  fresh: boolean;
  /** Insertion order, the last tie-break (deterministic). */
  seq: number;
  ema: ThroughputEma;
  strikes: number;
  bans: number;
  bannedUntilMs: number;
  inHeap: boolean;
  picks: number;
  /** Work picked and virtual time charged before the first measurement (at the prior throughput). */
  priorCost: number;
  priorCharge: number;
}

interface Stage {
  entries: Map<string, Entry>;
  heap: MinHeap<Entry>;
}

const less = (a: Entry, b: Entry): boolean =>
  a.vt !== b.vt ? a.vt < b.vt : a.fresh !== b.fresh ? a.fresh : a.seq < b.seq;

export class ReplicaBalancer {
  readonly strikesToBan: number;
  readonly banBaseMs: number;
  readonly banMaxMs: number;
  readonly alpha: number;
  readonly #stages = new Map<string, Stage>();
  #seq = 0;

  constructor(init: ReplicaBalancerInit = {}) {
    this.strikesToBan = init.strikesToBan ?? 3;
    this.banBaseMs = init.banBaseMs ?? 2000;
    this.banMaxMs = init.banMaxMs ?? 60_000;
    this.alpha = init.alpha ?? DEFAULT_EMA_ALPHA;
    if (!(this.strikesToBan >= 1)) throw new RangeError('strikesToBan must be >= 1');
  }

  /** Makes `replicas` the stage's membership: new ones enter at the heap minimum, absent ones leave; others keep their state. */
  setReplicas(stage: string, replicas: Iterable<string>, now: number): void {
    const want = new Set(replicas);
    const s = this.#stage(stage);
    for (const r of [...s.entries.keys()]) if (!want.has(r)) this.remove(stage, r);
    for (const r of want) if (!s.entries.has(r)) this.add(stage, r, now);
  }

  /** Adds a replica at the heap minimum (no-op when present). */
  add(stage: string, replica: string, now: number): void {
    const s = this.#stage(stage);
    if (s.entries.has(replica)) return;
    const e: Entry = {
      replica, vt: 0, fresh: true, seq: this.#seq++, ema: new ThroughputEma(this.alpha),
      strikes: 0, bans: 0, bannedUntilMs: 0, inHeap: false, picks: 0, priorCost: 0, priorCharge: 0,
    };
    s.entries.set(replica, e);
    this.#enter(s, e, now);
  }

  /** Forgets a replica. */
  remove(stage: string, replica: string): void {
    const s = this.#stages.get(stage);
    const e = s?.entries.get(replica);
    if (!s || !e) return;
    s.entries.delete(replica);
    if (e.inHeap) s.heap.filter((x) => x !== e);
  }

  /** Lifts a ban (the replica re-announced or proved alive); it enters at the heap minimum. */
  reinstate(stage: string, replica: string, now: number): void {
    const s = this.#stages.get(stage);
    const e = s?.entries.get(replica);
    if (!s || !e) return;
    e.strikes = 0;
    if (e.bannedUntilMs > now || !e.inHeap) {
      e.bannedUntilMs = 0;
      if (!e.inHeap) this.#enter(s, e, now);
    }
  }

  /** Chooses the replica for a call of `cost` units of work. */
  pick(stage: string, now: number, opts: PickOpts = {}): PickResult {
    const s = this.#stages.get(stage);
    if (!s || s.entries.size === 0) return { type: 'none' };
    this.#releaseExpiredBans(s, now);
    const exclude = opts.exclude;
    const skipped: Entry[] = [];
    let chosen: Entry | undefined;
    while (s.heap.size > 0) {
      const e = s.heap.pop() as Entry;
      if (exclude?.has(e.replica)) { skipped.push(e); continue; }
      chosen = e;
      break;
    }
    for (const e of skipped) s.heap.push(e);
    if (chosen) {
      const cost = opts.cost !== undefined && opts.cost > 0 ? opts.cost : 1;
      const charge = cost / this.#throughputOf(s, chosen);
      chosen.vt += charge;
      if (chosen.ema.samples === 0) {
        chosen.priorCost += cost;
        chosen.priorCharge += charge;
      }
      chosen.fresh = false;
      chosen.picks++;
      s.heap.push(chosen);
      return { type: 'ok', replica: chosen.replica };
    }
    let until = Infinity;
    for (const e of s.entries.values()) {
      if (exclude?.has(e.replica)) continue;
      if (e.bannedUntilMs > now) until = Math.min(until, e.bannedUntilMs);
    }
    return Number.isFinite(until) ? { type: 'wait', untilMs: until } : { type: 'none' };
  }

  /** Records a completed call: `work` units in `seconds` (whole call, network and queueing included). */
  recordSuccess(stage: string, replica: string, work: number, seconds: number): void {
    const e = this.#measure(stage, replica, work, seconds);
    if (!e) return;
    e.strikes = 0;
    e.bans = 0;
  }

  /**
   * Records a call that ran past its deadline after `seconds`: no strike, but the time counts as a
   * (lower-bound) measurement, so a replica that keeps timing out gets little traffic.
   */
  recordTimeout(stage: string, replica: string, work: number, seconds: number): void {
    this.#measure(stage, replica, work, seconds);
  }

  /** Feeds one whole-call measurement to the replica's EMA (its first one reprices it); the entry, if known. */
  #measure(stage: string, replica: string, work: number, seconds: number) {
    const s = this.#stages.get(stage);
    const e = s?.entries.get(replica);
    if (!s || !e) return undefined;
    const first = e.ema.samples === 0;
    e.ema.update(work, seconds);
    if (first && e.ema.samples > 0) this.#reprice(s, e);
    return e;
  }

  /** Records a failed call; see the file comment for the rules. */
  recordFailure(stage: string, replica: string, kind: FailureKind, now: number): FailureOutcome {
    const s = this.#stages.get(stage);
    const e = s?.entries.get(replica);
    if (!s || !e || kind === 'deadline') return { type: 'ignored' };
    if (e.bannedUntilMs > now) return { type: 'banned', untilMs: e.bannedUntilMs };
    e.strikes++;
    if (e.strikes < this.strikesToBan) return { type: 'strike', strikes: e.strikes };
    const length = Math.min(this.banMaxMs, this.banBaseMs * Math.pow(2, e.bans));
    e.bans++;
    e.strikes = this.strikesToBan - 1;
    e.bannedUntilMs = now + length;
    if (e.inHeap) {
      e.inHeap = false;
      s.heap.filter((x) => x !== e);
    }
    return { type: 'banned', untilMs: e.bannedUntilMs };
  }

  /** Whether the replica is banned at `now`. */
  isBanned(stage: string, replica: string, now: number): boolean {
    const e = this.#stages.get(stage)?.entries.get(replica);
    return e !== undefined && e.bannedUntilMs > now;
  }

  /** The replica's throughput (measured, or the stage prior), or undefined when unknown. */
  throughput(stage: string, replica: string): number | undefined {
    const s = this.#stages.get(stage);
    const e = s?.entries.get(replica);
    return s && e ? this.#throughputOf(s, e) : undefined;
  }

  /** A snapshot of the stage's replicas. */
  stats(stage: string): ReplicaStats[] {
    const s = this.#stages.get(stage);
    if (!s) return [];
    return [...s.entries.values()].map((e) => ({
      replica: e.replica, throughput: this.#throughputOf(s, e), measured: e.ema.samples > 0,
      virtualTime: e.vt, strikes: e.strikes, bannedUntilMs: e.bannedUntilMs, picks: e.picks,
    }));
  }

  #stage(stage: string): Stage {
    let s = this.#stages.get(stage);
    if (!s) {
      s = { entries: new Map(), heap: new MinHeap(less) };
      this.#stages.set(stage, s);
    }
    return s;
  }

  /** Puts `e` in the heap at the current minimum virtual time, marked fresh (wins ties). */
  #enter(s: Stage, e: Entry, now: number): void {
    if (e.bannedUntilMs > now) return;
    e.vt = s.heap.peek()?.vt ?? Math.max(0, ...[...s.entries.values()].map((x) => x.vt));
    e.fresh = true;
    e.seq = this.#seq++;
    e.inHeap = true;
    s.heap.push(e);
  }

  /** Re-prices the work charged at the prior, now that the replica's real speed is known. */
  #reprice(s: Stage, e: Entry): void {
    e.vt += e.priorCost / (e.ema.throughput() as number) - e.priorCharge;
    e.priorCost = 0;
    e.priorCharge = 0;
    if (e.inHeap) s.heap.filter(() => true);
  }

  #releaseExpiredBans(s: Stage, now: number): void {
    for (const e of s.entries.values()) {
      if (!e.inHeap && e.bannedUntilMs <= now) {
        e.bannedUntilMs = 0;
        this.#enter(s, e, now);
      }
    }
  }

  #throughputOf(s: Stage, e: Entry): number {
    const own = e.ema.throughput();
    if (own !== undefined) return own;
    let sum = 0;
    let n = 0;
    for (const x of s.entries.values()) {
      const t = x.ema.throughput();
      if (t !== undefined) { sum += t; n++; }
    }
    return n > 0 ? sum / n : 1;
  }
}
