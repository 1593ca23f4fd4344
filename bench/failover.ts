/**
 * The `failover` scenario (SPEC.md section 6): a fixed-rate load on the bench swarm (two replicas of
 * each expert of the path every request uses); part way through, one host of the path's first stage
 * is killed with SIGKILL. Reports requests, failures, latency percentiles overall and around the
 * kill, and how long until requests were back to normal.
 */
import type { Logger } from '../shared/log.ts';
import { runLoad } from './load-harness.ts';
import type { RequestSample } from './load-harness.ts';
import { quantile } from './arrivals.ts';
import type { BenchSwarm } from './bench-swarm.ts';

export interface FailoverSizes { rate: number; durationS: number; killAtS: number; maxTokens: number }
export const FAILOVER_QUICK: FailoverSizes = { rate: 4, durationS: 8, killAtS: 3, maxTokens: 16 };
export const FAILOVER_FULL: FailoverSizes = { rate: 4, durationS: 40, killAtS: 12, maxTokens: 16 };

export interface FailoverResult {
  requests: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  p99_during_failover_ms: number;
  recovery_s: number;
  /** Requests that needed a replay on another replica. */
  replayed: number;
  /** When each of them ended, seconds after the kill (shows whether replays stop once the dead host is dropped). */
  replays_at_s: number[];
  killed: { pid: number; peerId: string; experts: string[] };
  /** Sessions the router moved by replay during the run (its swarmpath_failovers_total), NaN when unread. */
  router_failovers: number;
}

/** Runs the load and the kill on `swarm` (which needs two replicas of each stage); `prompts` route to its path. */
export async function runFailover(swarm: BenchSwarm, prompts: readonly string[], sizes: FailoverSizes, log: Logger): Promise<FailoverResult> {
  const victim = swarm.hosts.find((h) => h.experts.includes(swarm.path[0]));
  if (!victim) throw new Error(`no host of ${swarm.path[0]} in the bench swarm`);
  log.info('failover: running', { http: swarm.http, victim: { pid: victim.pid, experts: victim.experts } });
  let timer: NodeJS.Timeout | undefined;
  let killedAt = NaN;
  const { samples } = await runLoad({
    baseUrl: swarm.http, scenario: 'failover', shape: { kind: 'constant', rate: sizes.rate, durationS: sizes.durationS, maxInflight: 64 },
    prompts, maxTokens: sizes.maxTokens, streamShare: 0, requestTimeoutMs: 60_000,
    onStart: (t0) => {
      timer = setTimeout(() => {
        killedAt = performance.now() - t0;
        victim.child.kill();
      }, sizes.killAtS * 1000);
    },
  });
  clearTimeout(timer);
  const router_failovers = await counterTotal(swarm.http, 'swarmpath_failovers_total');
  return { ...failoverFigures(samples, killedAt), killed: { pid: victim.pid, peerId: victim.peerId, experts: victim.experts }, router_failovers };
}

/** Sum of a counter's series in the router's GET /metrics (NaN when unreadable). */
async function counterTotal(http: string, name: string): Promise<number> {
  try {
    const text = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
      if (m) sum += Number(m[2]);
    }
    return sum;
  } catch {
    return NaN;
  }
}

/**
 * Pure: the figures of a failover run. `killedAtMs` is on the samples' clock. Requests "during
 * failover" are those in flight at the kill or started in the 5 s after it. A request ending after
 * the kill is disturbed when it failed, needed a replay on another replica (`swarmpath.replays`), or
 * took over 1.5x the pre-kill p99; recovery is the end of the last disturbed request, measured from
 * the kill (0 when none was disturbed).
 */
export function failoverFigures(samples: readonly RequestSample[], killedAtMs: number): Omit<FailoverResult, 'killed' | 'router_failovers'> {
  const lat = (s: RequestSample): number => s.endMs - s.startMs;
  const okLat = samples.filter((s) => s.ok).map(lat).sort((a, b) => a - b);
  const before = samples.filter((s) => s.ok && s.endMs < killedAtMs).map(lat).sort((a, b) => a - b);
  const during = samples.filter((s) => s.endMs >= killedAtMs && s.startMs <= killedAtMs + 5000).map(lat).sort((a, b) => a - b);
  const slow = 1.5 * (before.length > 0 ? quantile(before, 0.99) : quantile(okLat, 0.5));
  const disturbed = samples.filter((s) => s.endMs >= killedAtMs && (!s.ok || s.replays > 0 || lat(s) > slow));
  const lastEnd = disturbed.reduce((m, s) => Math.max(m, s.endMs), killedAtMs);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    replayed: samples.filter((s) => s.replays > 0).length,
    replays_at_s: samples.filter((s) => s.replays > 0).map((s) => Math.round((s.endMs - killedAtMs) / 100) / 10),
    p50_ms: r(quantile(okLat, 0.5)),
    p99_ms: r(quantile(okLat, 0.99)),
    p99_during_failover_ms: r(quantile(during, 0.99)),
    recovery_s: Number.isFinite(killedAtMs) ? Math.round((lastEnd - killedAtMs) / 100) / 10 : NaN,
  };
}
