/**
 * A Node load harness: drives the scenarios of loadtest/scenarios.json (the k6 scripts' table)
 * against a running swarmpath API at a fixed or ramping arrival rate (an open model: a slow server
 * gets the same arrivals), bounded by request count and time, loopback only unless told otherwise.
 * Reports requests, errors, latency percentiles and, for streams, time to first token measured on
 * the first `data:` event that carries text.
 *
 *   node bench/load-harness.ts --url http://127.0.0.1:8080 --scenario load --size ci [--json]
 *
 * The bench's failover scenario (bench/failover.ts) uses `runLoad` with its own per-request samples.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { arrivalOffsetsMs, quantile } from './arrivals.ts';
import { oneRequest } from './load-request.ts';
import type { RequestSample } from './load-request.ts';

export { isStream } from './load-request.ts';
export type { RequestSample } from './load-request.ts';
import type { Shape } from './arrivals.ts';
import { parseFlags, helpText, type FlagSpecs } from '../shared/cli-args.ts';
import { BadConfigError } from '../shared/errors.ts';

export interface Limits { failedRate: number; p95Ms: number; p99Ms?: number; ttftP95Ms: number; serverErrorRate?: number }
export interface ScenarioTable {
  prompts: string[];
  maxTokens: number;
  streamShare: number;
  scenarios: Record<string, { full: Shape; ci: Shape }>;
  thresholds: Record<string, Limits>;
}

export const SCENARIO_FILE = fileURLToPath(new URL('../loadtest/scenarios.json', import.meta.url));

/** Reads loadtest/scenarios.json. */
export function loadScenarioTable(file = SCENARIO_FILE): ScenarioTable {
  return JSON.parse(readFileSync(file, 'utf8')) as ScenarioTable;
}

export interface LoadReport {
  scenario: string;
  requests: number;
  ok: number;
  failed: number;
  shed: number;
  /** Arrivals not sent because `maxInflight` requests were already open (k6: dropped_iterations). */
  dropped: number;
  byStatus: Record<string, number>;
  durationS: number;
  achievedRps: number;
  p50Ms: number; p95Ms: number; p99Ms: number;
  ttftP50Ms: number; ttftP95Ms: number; ttftP99Ms: number;
  tokens: number;
  thresholds: { name: string; limit: number; value: number; pass: boolean }[];
  pass: boolean;
}

export interface LoadInit {
  baseUrl: string;
  apiKey?: string;
  /** Scenario name (for the report and thresholds). */
  scenario: string;
  shape: Shape;
  prompts: readonly string[];
  maxTokens: number;
  streamShare: number;
  model?: string;
  limits?: Limits;
  rateScale?: number;
  maxRequests?: number;
  maxDurationS?: number;
  /** Per-request deadline, ms (default 60000). */
  requestTimeoutMs?: number;
  /** 429/503 count as expected answers (stress). */
  shedIsExpected?: boolean;
  /** Allow a non-loopback base URL. */
  allowRemote?: boolean;
  signal?: AbortSignal;
  /** Called as each request ends. */
  onSample?: (s: RequestSample) => void;
  /** Called once at the start with the `performance.now()` that sample times are relative to. */
  onStart?: (startedAt: number) => void;
}

/**
 * Runs one load scenario to completion and reports; every request is awaited before it resolves.
 * `startedAt` is the `performance.now()` that sample times are relative to.
 */
export async function runLoad(init: LoadInit): Promise<{ report: LoadReport; samples: RequestSample[]; startedAt: number }> {
  const base = checkUrl(init.baseUrl, init.allowRemote ?? false);
  const schedule = arrivalOffsetsMs(init.shape, { rateScale: init.rateScale, maxRequests: init.maxRequests, maxDurationS: init.maxDurationS });
  const maxInflight = init.shape.maxInflight;
  const samples: RequestSample[] = [];
  const pending = new Set<Promise<void>>();
  let dropped = 0;
  const t0 = performance.now();
  init.onStart?.(t0);
  const launch = (i: number): Promise<void> => {
    const p = oneRequest(base, init, i, t0).then((s) => { samples.push(s); init.onSample?.(s); });
    pending.add(p);
    void p.finally(() => pending.delete(p));
    return p;
  };
  for (let i = 0; i < schedule.length; i++) {
    if (init.signal?.aborted) break;
    if (init.shape.kind === 'iterations') { await launch(i); continue; }
    // Timers may fire a little early against performance.now(): wait until the arrival time is reached.
    for (let wait = schedule[i] - (performance.now() - t0); wait > 0; wait = schedule[i] - (performance.now() - t0)) await sleep(Math.max(1, wait));
    if (pending.size >= maxInflight) { dropped++; continue; }
    void launch(i);
  }
  await Promise.all([...pending]);
  const durationS = (performance.now() - t0) / 1000;
  samples.sort((a, b) => a.index - b.index);
  return { report: summarize(init.scenario, samples, { durationS, dropped, limits: init.limits, shedIsExpected: init.shedIsExpected ?? false }), samples, startedAt: t0 };
}

/** Pure: the report of a set of samples. */
export function summarize(scenario: string, samples: readonly RequestSample[],
  o: { durationS: number; dropped: number; limits?: Limits; shedIsExpected: boolean }): LoadReport {
  const byStatus: Record<string, number> = {};
  for (const s of samples) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1;
  const lat = samples.filter((s) => s.ok).map((s) => s.endMs - s.startMs).sort((a, b) => a - b);
  const ttft = samples.filter((s) => s.ok && s.ttftMs !== undefined).map((s) => s.ttftMs!).sort((a, b) => a - b);
  const ok = samples.filter((s) => s.ok).length;
  const shed = samples.filter((s) => s.shed).length;
  const failed = samples.length - ok - (o.shedIsExpected ? shed : 0);
  const serverErrors = samples.filter((s) => !s.shed && (s.status === 0 || s.status >= 500)).length;
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const report: LoadReport = {
    scenario, requests: samples.length, ok, failed, shed, dropped: o.dropped, byStatus,
    durationS: r3(o.durationS), achievedRps: r3(samples.length / Math.max(o.durationS, 1e-9)),
    p50Ms: r3(quantile(lat, 0.5)), p95Ms: r3(quantile(lat, 0.95)), p99Ms: r3(quantile(lat, 0.99)),
    ttftP50Ms: r3(quantile(ttft, 0.5)), ttftP95Ms: r3(quantile(ttft, 0.95)), ttftP99Ms: r3(quantile(ttft, 0.99)),
    tokens: samples.reduce((s, x) => s + x.tokens, 0),
    thresholds: [], pass: true,
  };
  if (o.limits) {
    const n = Math.max(samples.length, 1);
    const check = (name: string, limit: number | undefined, value: number): void => {
      if (limit === undefined) return;
      report.thresholds.push({ name, limit, value: r3(value), pass: Number.isNaN(value) || value < limit });
    };
    check('failed_rate', o.limits.failedRate, failed / n);
    check('p95_ms', o.limits.p95Ms, report.p95Ms);
    check('p99_ms', o.limits.p99Ms, report.p99Ms);
    check('ttft_p95_ms', o.limits.ttftP95Ms, report.ttftP95Ms);
    check('server_error_rate', o.limits.serverErrorRate, serverErrors / n);
    report.pass = report.thresholds.every((t) => t.pass) && samples.length > 0;
  }
  return report;
}

function checkUrl(raw: string, allowRemote: boolean): string {
  let u: URL;
  try { u = new URL(raw); } catch { throw new BadConfigError(`--url must be an http URL; got ${JSON.stringify(raw)}`); }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
  if (!loopback && !allowRemote) throw new BadConfigError(`the load harness drives loopback APIs only (got ${u.host}); pass --allow-remote to override`);
  return u.origin;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const FLAGS = {
  url: { kind: 'string', help: 'base URL of the API', default: 'http://127.0.0.1:8080' },
  scenario: { kind: 'string', help: 'scenario of loadtest/scenarios.json', default: 'smoke', choices: ['smoke', 'load', 'stress', 'soak'] },
  size: { kind: 'string', help: 'table size', default: 'ci', choices: ['ci', 'full'] },
  'api-key': { kind: 'string', help: 'Bearer key', env: 'API_KEY' },
  model: { kind: 'string', help: 'model name (default: the API picks)' },
  'rate-scale': { kind: 'number', help: 'multiplies every arrival rate', default: 1, min: 0 },
  'max-requests': { kind: 'int', help: 'stop after this many requests', min: 1 },
  'max-duration': { kind: 'number', help: 'stop scheduling after this many seconds', min: 0 },
  'allow-remote': { kind: 'boolean', help: 'allow a non-loopback URL', default: false },
  json: { kind: 'boolean', help: 'print the report as one JSON object', default: false },
  help: { kind: 'boolean', help: 'this text', default: false },
} as const satisfies FlagSpecs;

/** CLI: runs one scenario and prints the report; exit 1 when a threshold fails. */
export async function main(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) { process.stdout.write(helpText('node bench/load-harness.ts [flags]', FLAGS)); return 0; }
  const table = loadScenarioTable();
  const name = String(flags.scenario);
  const { report } = await runLoad({
    baseUrl: String(flags.url), apiKey: flags['api-key'], scenario: name,
    shape: table.scenarios[name][flags.size as 'ci' | 'full'], prompts: table.prompts, maxTokens: table.maxTokens,
    streamShare: table.streamShare, model: flags.model, limits: table.thresholds[name],
    rateScale: Number(flags['rate-scale']), maxRequests: flags['max-requests'],
    maxDurationS: flags['max-duration'], shedIsExpected: name === 'stress',
    allowRemote: Boolean(flags['allow-remote']),
  });
  if (flags.json) process.stdout.write(JSON.stringify(report) + '\n');
  else process.stdout.write(formatReport(report));
  return report.pass ? 0 : 1;
}

/** A human-readable table of a report. */
export function formatReport(r: LoadReport): string {
  const lines = [
    `scenario ${r.scenario}: ${r.requests} requests in ${r.durationS} s (${r.achievedRps}/s), ok ${r.ok}, failed ${r.failed}, shed ${r.shed}, dropped ${r.dropped}`,
    `status ${JSON.stringify(r.byStatus)}; tokens ${r.tokens}`,
    `latency ms p50 ${r.p50Ms} p95 ${r.p95Ms} p99 ${r.p99Ms}; time to first token ms p50 ${r.ttftP50Ms} p95 ${r.ttftP95Ms} p99 ${r.ttftP99Ms}`,
    ...r.thresholds.map((t) => `  ${t.pass ? 'ok  ' : 'FAIL'} ${t.name} ${t.value} < ${t.limit}`),
  ];
  return lines.join('\n') + '\n';
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {
    process.stderr.write(`load-harness: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
}
