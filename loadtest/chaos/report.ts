/**
 * The chaos report, pure: requests, failures and p50/p99 latency overall and in three windows
 * around every kill (before it, from it until the swarm recovered, and after recovery), the time
 * until the killed experts were served again and until every expert was back to its target
 * replica count, and how many seeded generations matched their undisturbed replay.
 */
import type { ChaosSample } from './load-driver.ts';
import type { ReplicaSample } from './replica-watch.ts';

export interface WindowStats {
  requests: number;
  ok: number;
  failed: number;
  /** Failures answered 503 with Retry-After (the bounded wait for a re-hosted expert ran out). */
  failed_503_retry_after: number;
  p50_ms: number;
  p99_ms: number;
}

/** A kill as it happened. */
export interface KillRecord {
  atMs: number;
  kind: 'one' | 'expert';
  expertId?: string;
  victims: { pid: number; experts: readonly string[] }[];
  /** `expert` kills: when the harness's own Info round found no live host serving the expert (ms from t0). */
  unservedAtMs?: number;
  restartedAtMs?: number;
}

export interface KillReport extends KillRecord {
  /** Until every killed expert had a live replica again, s (0 when none was ever unserved); null: never. */
  served_again_s: number | null;
  /** Until every expert had `target` live replicas again, s; null: never within the run. */
  recovery_s: number | null;
  /** Requests that ended before the kill, started in the window before it. */
  before: WindowStats;
  /** Requests in flight at the kill or started before the swarm recovered (or served again). */
  during: WindowStats;
  /** Requests started in the window after recovery, or after served again when never recovered. */
  after: WindowStats;
  after_from: 'recovered' | 'served-again' | 'never';
}

export interface ChaosReport {
  requests: number;
  failed: number;
  /** Requests by HTTP status (0: no answer). */
  statuses: Record<string, number>;
  p50_ms: number;
  p99_ms: number;
  /** p99 of requests in flight at a kill or started before its recovery. */
  p99_during_failover_ms: number;
  /** Worst time to recovery over the kills, s (null when some kill never recovered). */
  recovery_s: number | null;
  kills: KillReport[];
  determinism?: Determinism;
}

/** Seeded texts of the chaos run against their undisturbed replay. */
export interface Determinism {
  compared: number;
  identical: number;
  /** Of those compared, generations the router moved to another replica mid-way (replays > 0). */
  interrupted: number;
  interruptedIdentical: number;
  mismatches: { index: number; seed: number }[];
}

const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : NaN);
const lat = (s: ChaosSample) => s.endMs - s.startMs;

function q(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Counts and latency percentiles (successful requests) of `samples`. */
export function windowStats(samples: readonly ChaosSample[]): WindowStats {
  const ok = samples.filter((s) => s.ok);
  const l = ok.map(lat).sort((a, b) => a - b);
  return {
    requests: samples.length, ok: ok.length, failed: samples.length - ok.length,
    failed_503_retry_after: samples.filter((s) => !s.ok && s.status === 503 && s.retryAfterS !== undefined).length,
    p50_ms: r1(q(l, 0.5)), p99_ms: r1(q(l, 0.99)),
  };
}

/** First sample time at or after `fromMs` where `ok(counts)` holds; undefined when none. */
export function firstWhere(samples: readonly ReplicaSample[], fromMs: number, ok: (c: Record<string, number>) => boolean): number | undefined {
  for (const s of samples) if (s.tMs >= fromMs && ok(s.counts)) return s.tMs;
  return undefined;
}

export interface ReportInput {
  samples: readonly ChaosSample[];
  kills: readonly KillRecord[];
  replicas: readonly ReplicaSample[];
  /** Target replicas per expert (the swarm's --replicas). */
  target: number;
  /** Length of the before/after windows, ms. */
  windowMs: number;
  determinism?: Determinism;
}

export function chaosReport(input: ReportInput): ChaosReport {
  const { samples, replicas, target, windowMs } = input;
  const kills = input.kills.map((k): KillReport => {
    const killed = [...new Set(k.victims.flatMap((v) => v.experts))];
    const allServed = (c: Record<string, number>) => killed.every((e) => (c[e] ?? 0) >= 1);
    // The harness's confirmation that the expert had no live replica counts as a gap even when the
    // watch's rounds (every 250 ms) all fell outside a short one.
    const gap = k.unservedAtMs ?? firstWhere(replicas, k.atMs, (c) => !allServed(c));
    const served = gap === undefined ? k.atMs : firstWhere(replicas, gap, allServed);
    // Recovery is counted from the first shortfall seen: a round that began right after the kill can
    // still reach victims a few ms into their SIGKILL, and found "every expert at target" at once.
    const atTarget = (c: Record<string, number>) => Object.values(c).every((n) => n >= target);
    const dip = k.unservedAtMs ?? firstWhere(replicas, k.atMs, (c) => !atTarget(c));
    const recovered = firstWhere(replicas, dip ?? k.atMs, atTarget);
    const afterStart = recovered ?? served;
    const duringEnd = Math.max(afterStart ?? Infinity, k.atMs + 1000);
    return {
      ...k,
      served_again_s: served === undefined ? null : r1((served - k.atMs) / 1000),
      recovery_s: recovered === undefined ? null : r1((recovered - k.atMs) / 1000),
      before: windowStats(samples.filter((s) => s.startMs >= k.atMs - windowMs && s.startMs < k.atMs && s.endMs < k.atMs)),
      during: windowStats(samples.filter((s) => s.endMs >= k.atMs && s.startMs < duringEnd)),
      after: windowStats(afterStart === undefined ? [] : samples.filter((s) => s.startMs >= duringEnd && s.startMs < duringEnd + windowMs)),
      after_from: recovered !== undefined ? 'recovered' : served !== undefined ? 'served-again' : 'never',
    };
  });
  const all = windowStats(samples);
  const duringAll = samples.filter((s) => kills.some((k) => s.endMs >= k.atMs && s.startMs < k.atMs + Math.max(1000, (k.recovery_s ?? Infinity) * 1000)));
  const recs = kills.map((k) => k.recovery_s);
  const statuses: Record<string, number> = {};
  for (const s of samples) statuses[String(s.status)] = (statuses[String(s.status)] ?? 0) + 1;
  return {
    requests: all.requests, failed: all.failed, statuses, p50_ms: all.p50_ms, p99_ms: all.p99_ms,
    p99_during_failover_ms: windowStats(duringAll).p99_ms,
    recovery_s: recs.length === 0 ? 0 : recs.some((r) => r === null) ? null : Math.max(...(recs as number[])),
    kills,
    ...(input.determinism ? { determinism: input.determinism } : {}),
  };
}
