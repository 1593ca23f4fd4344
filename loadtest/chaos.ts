/**
 * `npm run chaos`: a local swarm (2 replicas of every expert and 1 spare by default) under a
 * fixed-rate load while hosts are SIGKILLed and restarted at random (seeded); prints requests,
 * failures, p50/p99 latency before, during and after each kill, the time until killed experts were
 * served again and until every expert was back to its target replica count, and whether every
 * seeded generation matched its undisturbed replay.
 *
 *   node bin/run-node.js loadtest/chaos.ts [--model DIR] [--duration-s 90] [--rate 2] [--seed 1] [--json] [--log FILE]
 *
 * Exit 0 when no request was lost to a kill that left a live replica and every text matched.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helpText, parseFlags, type FlagSpecs } from '../shared/cli-args.ts';
import { BadConfigError } from '../shared/errors.ts';
import { createLogger } from '../shared/log.ts';
import { planChaos } from './chaos/kill-plan.ts';
import { formatChaosReport } from './chaos/format.ts';
import { runChaos } from './chaos/run-chaos.ts';

const USAGE = 'node bin/run-node.js loadtest/chaos.ts [flags]';
const FLAGS = {
  model: { kind: 'string', help: 'model package (default: a small random one is synthesized, see --levels)' },
  levels: { kind: 'string', help: 'experts per level of the synthesized model (without --model); 2 keeps the swarm at 5 hosts for 2 cores, 2,2 makes 9', default: '2' },
  log: { kind: 'string', help: 'append every process log line here' },
  replicas: { kind: 'int', help: 'hosts per expert', default: 2, min: 1 },
  spare: { kind: 'int', help: 'extra --auto hosts', default: 1, min: 0 },
  rate: { kind: 'number', help: 'requests per second', default: 1, min: 0.1 },
  'duration-s': { kind: 'number', help: 'length of the load, seconds', default: 90, min: 5 },
  'kill-every-s': { kind: 'number', help: 'mean seconds between kills (±50 %)', default: 20, min: 1 },
  'expert-kill-share': { kind: 'number', help: 'share of kills that take every replica of one expert', default: 0.3, min: 0, max: 1 },
  'restart-min-s': { kind: 'number', help: 'a killed host restarts after at least this, seconds', default: 5, min: 0 },
  'restart-max-s': { kind: 'number', help: 'and at most this, seconds', default: 12, min: 0 },
  'max-tokens': { kind: 'int', help: 'tokens per completion', default: 24, min: 1 },
  seed: { kind: 'int', help: 'seed of the kill schedule and of the requests', default: 1 },
  'window-s': { kind: 'number', help: 'before/after window of each kill, seconds', default: 5, min: 1 },
  'host-arg': { kind: 'list', help: 'flag for every host (default --rebalance: every host may heal the swarm)', default: ['--rebalance'] },
  json: { kind: 'boolean', help: 'print the report as one JSON object', default: false },
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs;

export async function main(argv: string[]): Promise<number> {
  const { flags: f } = parseFlags(argv, FLAGS);
  if (f.help) { process.stdout.write(helpText(USAGE, FLAGS)); return 0; }
  const log = createLogger('chaos');
  let model = f.model;
  let synthDir: string | undefined;
  if (model === undefined) {
    const { synthPackage } = await import('../shared/model/synth.ts');
    synthDir = mkdtempSync(join(tmpdir(), 'swarmpath-chaos-model-'));
    const levels = String(f.levels).split(',').map(Number);
    if (levels.some((k) => !Number.isInteger(k) || k < 1)) throw new BadConfigError(`--levels must be K,K,… (positive integers); got ${JSON.stringify(f.levels)}`);
    log.info(`synthesizing a small random model (levels ${levels.join(',')}) in ${synthDir}`);
    await synthPackage({ out: synthDir, levels });
    model = synthDir;
  } else if (!existsSync(join(model, 'manifest.json'))) {
    throw new BadConfigError(`--model ${model}: no manifest.json there`);
  }
  const logFile = f.log;
  const onLog = logFile ? (line: string) => appendFileSync(logFile, line + '\n') : undefined;
  try {
    const durationMs = f['duration-s'] * 1000;
    const plan = planChaos({
      seed: f.seed, durationMs, warmupMs: Math.min(10_000, durationMs / 6), cooldownMs: Math.min(20_000, durationMs / 4),
      killEveryMs: f['kill-every-s'] * 1000, expertKillShare: f['expert-kill-share'],
      restartAfterMs: [f['restart-min-s'] * 1000, f['restart-max-s'] * 1000],
    });
    const prompts = JSON.parse(readFileSync(fileURLToPath(new URL('./scenarios.json', import.meta.url)), 'utf8')).prompts as string[];
    log.info(`chaos: ${plan.length} kills planned over ${durationMs / 1000} s at ${f.rate} req/s`);
    const { report } = await runChaos({
      swarm: { model, replicas: f.replicas, spare: f.spare, hostArgs: f['host-arg'], onLog },
      rate: f.rate, durationMs, plan, prompts, maxTokens: f['max-tokens'], seedBase: f.seed * 100_000,
      windowMs: f['window-s'] * 1000, log,
    });
    process.stdout.write(f.json ? JSON.stringify(report) + '\n' : formatChaosReport(report));
    const lostWithReplica = report.kills.some((k) => k.served_again_s === 0 && k.during.failed > 0);
    const textsOk = !report.determinism || report.determinism.identical === report.determinism.compared;
    return lostWithReplica || !textsOk ? 1 : 0;
  } finally {
    if (synthDir) rmSync(synthDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err) => {
    process.stderr.write(`chaos: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 2;
  });
}
