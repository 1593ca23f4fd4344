/**
 * Runs the benchmark scenarios and merges their figures into the one JSON object `swarmpath bench
 * --json` prints (SPEC.md section 6), plus the machine it ran on and which bars of issue 6 hold.
 */
import { cpus, loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Logger } from '../shared/log.ts';
import { resolveBenchModel } from './model-source.ts';
import { runDecode, QUICK, FULL } from './decode.ts';
import type { DecodeResult } from './decode.ts';
import { runHostOverhead } from './host-overhead-adapter.ts';
import type { HostOverhead } from './host-overhead-adapter.ts';
import { runFailover, FAILOVER_QUICK, FAILOVER_FULL } from './failover.ts';
import type { FailoverResult } from './failover.ts';
import { runLoadScenario } from './load-scenario.ts';
import { startBenchSwarm } from './bench-swarm.ts';
import { benchPath } from './bench-path.ts';
import { loadScenarioTable } from './load-harness.ts';
import { loadPackage } from '../shared/model/package.ts';
import type { LoadScenarioResult } from './load-scenario.ts';
import { runScale, runScaleSoak, SCALE_FULL, SCALE_QUICK, SOAK_DEFAULT, SOAK_QUICK, type ScaleResult, type ScaleSizes, type ScaleSoakResult, type SoakSizes } from './scale.ts';
import { runHeavy } from './heavy.ts';
import type { HeavyResult } from './heavy.ts';
import { HEAVY_FULL, HEAVY_QUICK } from './heavy-figures.ts';
import type { HeavyShape } from './heavy-figures.ts';

export type ScenarioName = 'decode' | 'heavy' | 'load' | 'failover' | 'scale' | 'scale-soak' | 'all';

export interface BenchInit {
  scenario: ScenarioName;
  quick: boolean;
  model?: string;
  /** Extra flags for every host the bench starts. */
  hostArgs?: readonly string[];
  /** Changes to the heavy scenario's synthesized model (tests shrink it); it ignores `model`. */
  heavyShape?: Partial<HeavyShape>;
  /** Changes to the soak's sizes (`--hosts`, `--duration-s`, `--join-s`). */
  soak?: Partial<SoakSizes>;
  /** Changes to the scale scenario's sizes (`--join-s`, `--warmup-s`). */
  scale?: Partial<ScaleSizes>;
  log: Logger;
}

export interface Bar { name: string; value: number; limit: number; aim: number; pass: boolean }

export type BenchResult = Partial<DecodeResult> & Partial<HeavyResult> & Partial<FailoverResult> & Partial<ScaleResult> & Partial<ScaleSoakResult> & {
  scenario: ScenarioName;
  quick: boolean;
  model_source: string;
  host_args: string[];
  /** `loadavg` is the 1-minute load average at the start and at the end: other work on the machine skews every figure. */
  machine: { cpu: string; cores: number; node: string; platform: string; loadavg: number[] };
  date: string;
  elapsed_s: number;
  host_overhead?: HostOverhead | { error: string };
  load?: LoadScenarioResult | { error: string };
  /** Resident memory of the bench swarm's real router process and its largest live host, after load and failover. */
  swarm_router_rss_mb?: number;
  swarm_host_rss_mb?: number;
  bars?: Bar[];
};

export async function runBench(init: BenchInit): Promise<BenchResult> {
  const t0 = performance.now();
  const log = init.log;
  const model = await resolveBenchModel(init.model, log);
  const out: BenchResult = {
    scenario: init.scenario, quick: init.quick, model_source: model.source, host_args: [...(init.hostArgs ?? [])],
    machine: machine(), date: new Date().toISOString(), elapsed_s: 0,
  };
  try {
    const all = init.scenario === 'all';
    // Scale simulates its own swarm (no model): run it alone, never as part of `all`.
    if (init.scenario === 'scale') Object.assign(out, await runScale({ ...(init.quick ? SCALE_QUICK : SCALE_FULL), ...init.scale }, log));
    if (init.scenario === 'scale-soak') Object.assign(out, await runScaleSoak({ ...(init.quick ? SOAK_QUICK : SOAK_DEFAULT), ...init.soak }, log));
    if (all || init.scenario === 'decode') {
      Object.assign(out, await runDecode(model.dir, init.quick ? QUICK : FULL, log, init.hostArgs ?? []));
      out.host_overhead = await runHostOverhead(model.dir, init.quick, log).catch((err: unknown) => ({ error: String(err instanceof Error ? err.message : err) }));
    }
    // Heavy synthesizes its own compute-bound model (~200 MB): about 30 s at full size, 20 s quick. It
    // is part of a full `all` (npm run bench), not of `all --quick`, which must stay within 60 s.
    if ((all && !init.quick) || init.scenario === 'heavy') {
      Object.assign(out, await runHeavy({ sizes: init.quick ? HEAVY_QUICK : HEAVY_FULL, shape: init.heavyShape, hostArgs: init.hostArgs, log }));
    }
    if (all || init.scenario === 'decode' || init.scenario === 'heavy') out.bars = bars(out);
    const load = all || init.scenario === 'load';
    const failover = all || init.scenario === 'failover';
    if (load || failover) {
      // One swarm for both: two replicas of each expert of one path; the load runs first, then the
      // failover kills one of its hosts.
      const pkg = await loadPackage(model.dir);
      const { path, prompts } = benchPath(pkg.manifest, loadScenarioTable().prompts);
      const swarm = await startBenchSwarm({ modelDir: model.dir, path, replicas: 2, hostArgs: init.hostArgs });
      try {
        log.info('bench swarm ready', { http: swarm.http, path, hosts: swarm.hosts.length });
        if (load) out.load = await runLoadScenario(swarm, prompts, init.quick, log).catch((err: unknown) => ({ error: String(err instanceof Error ? err.message : err) }));
        if (failover) Object.assign(out, await runFailover(swarm, prompts, init.quick ? FAILOVER_QUICK : FAILOVER_FULL, log));
        out.swarm_router_rss_mb = swarm.router.rssMb();
        out.swarm_host_rss_mb = Math.max(...swarm.hosts.map((h) => h.child.rssMb()).filter(Number.isFinite));
      } finally {
        await swarm.stop();
      }
    }
  } finally {
    model.cleanup();
  }
  out.elapsed_s = Math.round((performance.now() - t0) / 100) / 10;
  out.machine.loadavg.push(round2(loadavg()[0]));
  return out;
}

/**
 * The bars of issue 6 against the decode figures, and of issue 12 against the heavy ones (the swarm
 * within 10 % of one process on a path whose step costs at least 5 ms there). Figures a run did not
 * produce have no bar. The time to first token (ttft_ratio_512) is reported without a bar.
 */
export function bars(r: Partial<DecodeResult & HeavyResult>): Bar[] {
  const list: Bar[] = [];
  const add = (name: string, value: number | undefined, limit: number, aim: number, lowerIsBetter: boolean): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    list.push({ name, value: Math.round(value * 1000) / 1000, limit, aim, pass: lowerIsBetter ? value <= limit : value >= limit });
  };
  add('hop_overhead_ratio', r.hop_overhead_ratio, 2.0, 1.2, true);
  if (r.step_ms_pos512 !== undefined && r.step_ms_pos16) add('step_ms_pos512 / step_ms_pos16', r.step_ms_pos512 / r.step_ms_pos16, 1.5, 1.1, true);
  if (r.tokens_per_s_c !== undefined && r.tokens_per_s_1) add('tokens_per_s_c / tokens_per_s_1', r.tokens_per_s_c / r.tokens_per_s_1, 3, 10, false);
  add('route_us', r.route_us, 200, 20, true);
  add('heavy_overhead_ratio', r.heavy_overhead_ratio, 1.10, 1.03, true);
  add('heavy_monolithic_step_ms', r.heavy_monolithic_step_ms, 5, 5, false);
  return list;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function machine(): BenchResult['machine'] {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch { /* not Linux */ }
  return { cpu, cores: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, loadavg: [round2(loadavg()[0])] };
}

/** A human-readable table of a result. */
export function formatBench(r: BenchResult): string {
  const lines: string[] = [`swarmpath bench (${r.scenario}${r.quick ? ', quick' : ''}) on ${r.machine.cpu}, ${r.machine.cores} cores, node ${r.machine.node}; model ${r.model ?? '?'} (${r.model_source})`];
  const skip = new Set(['scenario', 'quick', 'model_source', 'machine', 'date', 'bars', 'host_overhead', 'load', 'model']);
  for (const [k, v] of Object.entries(r)) {
    if (skip.has(k)) continue;
    const flat = Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null);
    lines.push(`  ${k.padEnd(24)} ${flat ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
  }
  if (r.host_overhead) lines.push(`  host_overhead            ${JSON.stringify(r.host_overhead)}`);
  if (r.load) lines.push(`  load                     ${JSON.stringify(r.load)}`);
  for (const b of r.bars ?? []) lines.push(`  bar ${b.pass ? 'ok  ' : 'MISS'} ${b.name} = ${b.value} (limit ${b.limit}, aim ${b.aim})`);
  return lines.join('\n') + '\n';
}
