/**
 * One chaos run (issue 5): a local swarm under a fixed-rate load of seeded completions while hosts
 * are SIGKILLed and restarted on a seeded schedule (kill-plan.ts); the served replicas sampled all
 * along (replica-watch.ts); afterwards every successful request replayed on the quiet swarm to
 * check that kills changed no text; then the report (report.ts). Used by `npm run chaos`
 * (loadtest/chaos.ts), the chaos tests, and open to the bench's failover scenario.
 */
import { connect } from 'node:net';
import type { Logger } from '../../shared/log.ts';
import { createExpertClient } from '../../shared/grpc/client.ts';
import { startChaosSwarm, type ChaosHost, type ChaosSwarm, type ChaosSwarmInit } from './chaos-swarm.ts';
import { killUntilUnserved, pickVictims, type PlannedKill } from './kill-plan.ts';
import { completion, runFixedRate, type ChaosSample } from './load-driver.ts';
import { watchReplicas } from './replica-watch.ts';
import { chaosReport, type ChaosReport, type KillRecord } from './report.ts';

export interface ChaosRunInit {
  /** The swarm to start (or `swarm` to run on one already started). */
  swarm: ChaosSwarmInit | ChaosSwarm;
  rate: number;
  durationMs: number;
  plan: readonly PlannedKill[];
  prompts: readonly string[];
  maxTokens: number;
  temperature?: number;
  seedBase?: number;
  /** Before/after window of the report, ms. */
  windowMs?: number;
  /** After the load, wait at most this long for the swarm to recover before the replay, ms. */
  settleMs?: number;
  /** Replay successful requests to compare texts (default true); at most this many. */
  replay?: boolean;
  replayMax?: number;
  requestTimeoutMs?: number;
  log: Logger;
}

export interface ChaosRun {
  report: ChaosReport;
  samples: ChaosSample[];
  /** Texts of the undisturbed replay by request index. */
  replayed: Map<number, string | undefined>;
  swarm: ChaosSwarm;
}

/** Runs the chaos; stops the swarm it started (not one handed in). */
export async function runChaos(init: ChaosRunInit): Promise<ChaosRun> {
  const own = !('http' in init.swarm);
  const swarm = own ? await startChaosSwarm(init.swarm as ChaosSwarmInit) : init.swarm as ChaosSwarm;
  try {
    return await runOn(swarm, init);
  } finally {
    if (own) await swarm.stop();
  }
}

async function runOn(swarm: ChaosSwarm, init: ChaosRunInit): Promise<ChaosRun> {
  const { log } = init;
  const params = { prompts: init.prompts, maxTokens: init.maxTokens, temperature: init.temperature ?? 0.8, seedBase: init.seedBase ?? 1 };
  // Warm-up: one request end to end before the clock starts.
  const warm = await completion(swarm.http, { prompt: init.prompts[0], seed: 0, maxTokens: 4, temperature: 0 }, { timeoutMs: 60_000 });
  if (!warm.ok) throw new Error(`warm-up request failed: ${warm.status} ${warm.error}`);

  const kills: KillRecord[] = [];
  const timers: NodeJS.Timeout[] = [];
  const restarts: Promise<void>[] = [];
  let t0 = performance.now();
  const watch = watchReplicas({ experts: swarm.experts, addresses: swarm.hosts().map((h) => h.grpc), t0 });
  const onKill = async (k: PlannedKill) => {
    const live = await servedNow(swarm.hosts().filter((h) => h.alive));
    const picked = pickVictims(k, live);
    const { expertId } = picked;
    if (picked.victims.length === 0) return;
    const atMs = performance.now() - t0;
    let victims = picked.victims;
    let unservedAtMs: number | undefined;
    if (k.kind === 'expert' && expertId) {
      ({ killed: victims, unservedAtMs } = await killUntilUnserved({
        expertId, victims,
        lookup: () => servedNow(swarm.hosts().filter((h) => h.alive)), // swarm.kill marks a host dead
        kill: (v) => swarm.kill(v.host),
        gone: (v) => refusing(v.host.grpc),
        now: () => performance.now() - t0,
      }));
      if (unservedAtMs === undefined) log.warn(`chaos: could not confirm that ${expertId} lost every replica (${victims.length} hosts killed)`);
    } else {
      for (const v of victims) swarm.kill(v.host);
    }
    const rec: KillRecord = {
      atMs, kind: k.kind, expertId, victims: victims.map((v) => ({ pid: v.host.pid, experts: v.experts })),
      ...(unservedAtMs !== undefined ? { unservedAtMs } : {}),
    };
    kills.push(rec);
    log.info(`chaos: SIGKILL ${victims.map((v) => `${v.host.pid} (${v.experts.join(',')})`).join(', ')}`, { atS: Math.round(atMs) / 1000, kind: k.kind });
    if (!Number.isFinite(k.restartAfterMs)) return;
    restarts.push(new Promise<void>((resolve) => {
      timers.push(setTimeout(() => {
        Promise.all(victims.map(async (v) => { const h = await swarm.restart(v.host); watch.add(h.grpc); }))
          .then(() => { rec.restartedAtMs = performance.now() - t0; }, (err) => log.warn('restart failed', { error: err }))
          .finally(resolve);
      }, k.restartAfterMs));
    }));
  };

  const { samples } = await runFixedRate({
    baseUrl: swarm.http, rate: init.rate, durationMs: init.durationMs, ...params, requestTimeoutMs: init.requestTimeoutMs,
    onStart: (t) => {
      t0 = t;
      for (const k of init.plan) timers.push(setTimeout(() => { void onKill(k); }, k.atMs));
    },
  });
  await Promise.all(restarts);
  await waitRecovered(watch, swarm.experts, init.settleMs ?? 20_000);
  for (const t of timers) clearTimeout(t);

  const replayed = new Map<number, string | undefined>();
  if (init.replay ?? true) {
    const todo = samples.filter((s) => s.ok).slice(0, init.replayMax ?? Infinity);
    await pool(todo, 4, async (s) => {
      const r = await completion(swarm.http, { prompt: s.prompt, seed: s.seed, maxTokens: params.maxTokens, temperature: params.temperature }, { timeoutMs: 60_000 });
      replayed.set(s.index, r.ok ? r.text : undefined);
    });
  }
  await watch.stop();
  const byIndex = new Map(samples.map((s) => [s.index, s]));
  const compared = [...replayed.entries()].filter(([, t]) => t !== undefined);
  const mismatches = compared.filter(([i, t]) => byIndex.get(i)!.text !== t).map(([i]) => ({ index: i, seed: byIndex.get(i)!.seed }));
  const interrupted = compared.filter(([i]) => (byIndex.get(i)!.replays ?? 0) > 0);
  const interruptedIdentical = interrupted.filter(([i, t]) => byIndex.get(i)!.text === t).length;
  const report = chaosReport({
    samples, kills, replicas: watch.samples(), target: targetOf(swarm), windowMs: init.windowMs ?? 5000,
    ...(init.replay ?? true ? {
      determinism: { compared: compared.length, identical: compared.length - mismatches.length, interrupted: interrupted.length, interruptedIdentical, mismatches },
    } : {}),
  });
  return { report, samples, replayed, swarm };
}

/** The replica target: the swarm's --replicas (experts started on pinned hosts per expert, spares excluded). */
function targetOf(swarm: ChaosSwarm): number {
  const started = swarm.hosts().filter((h) => !h.auto && !h.child).reduce((n, h) => n + h.startedWith.length, 0);
  return Math.max(1, Math.round(started / Math.max(1, swarm.experts.length)));
}

/** What each live host serves right now (Info); hosts that do not answer within 5 s are left out. */
async function servedNow(hosts: readonly ChaosHost[]): Promise<{ host: ChaosHost; pid: number; experts: string[] }[]> {
  const out = await Promise.all(hosts.map(async (host) => {
    const c = createExpertClient(host.grpc);
    try {
      const info = await c.info({ deadlineMs: Date.now() + 5000 });
      return { host, pid: host.pid, experts: info.experts.map((e) => e.expertId) };
    } catch {
      return undefined;
    } finally {
      c.close();
    }
  }));
  return out.filter((x): x is NonNullable<typeof x> => x !== undefined);
}

/** True once `address` (host:port) refuses TCP connections (the process that listened is gone); false after `timeoutMs`. */
async function refusing(address: string, timeoutMs = 10_000): Promise<boolean> {
  const i = address.lastIndexOf(':');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function waitRecovered(watch: ReturnType<typeof watchReplicas>, experts: readonly string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const last = watch.samples().at(-1);
    if (last && experts.every((e) => (last.counts[e] ?? 0) >= 1)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function pool<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await f(items[next++]);
  }));
}
