/**
 * `swarmpath bench [--scenario decode|heavy|load|failover|scale|scale-soak|all] [--quick] [--json] [--model DIR]`: the
 * benchmarks of SPEC.md section 6 (bench/). Prints one JSON object with --json, else a table; logs
 * go to stderr. `npm run bench` runs them all.
 */
import { parseFlags, helpText } from '../../shared/cli-args.ts';
import type { FlagSpecs } from '../../shared/cli-args.ts';
import { createLogger } from '../../shared/log.ts';
import { BadConfigError } from '../../shared/errors.ts';
import { runBench, formatBench } from '../../bench/run-bench.ts';
import type { ScenarioName } from '../../bench/run-bench.ts';

const USAGE = 'swarmpath bench [--scenario decode|heavy|load|failover|scale|scale-soak|all] [--quick] [--json] [--model DIR] [--host-arg FLAG]… [--hosts N] [--duration-s S] [--join-s S] [--warmup-s S]';
const FLAGS = Object.freeze({
  scenario: { kind: 'string', help: 'which benchmark (heavy: the decode loop on a synthesized compute-bound model, in all but not in all --quick; scale: hundreds of simulated hosts on real kad-dht nodes, not part of all; scale-soak: one simulated swarm followed window by window)', default: 'all', choices: ['decode', 'heavy', 'load', 'failover', 'chaos', 'scale', 'scale-soak', 'all'] },
  quick: { kind: 'boolean', help: 'small sizes: finishes within 60 s on 2 cores', default: false },
  json: { kind: 'boolean', help: 'print one JSON object', default: false },
  model: { kind: 'string', help: 'model package (default models/swarmpath-tiny, else a synthetic one)', env: 'SWARMPATH_MODEL' },
  'host-arg': { kind: 'list', help: 'extra flag for every host the bench starts, e.g. --host-arg=--batch-wait-ms=1 (repeatable)' },
  hosts: { kind: 'int', help: 'scale-soak: simulated hosts (default 100; 16 with --quick)' },
  'duration-s': { kind: 'int', help: 'scale-soak: seconds to follow the swarm after it started, or with --join-s from its first host (default 300; 40 with --quick)' },
  'join-s': { kind: 'int', help: 'scale-soak and scale: hosts arrive one by one over this many seconds instead of all at once (default 0; scale: the quarter swarm at the same rate)', min: 0 },
  'warmup-s': { kind: 'int', help: 'scale: seconds from the last arrival to the measurement (default 90; 20 with --quick)', min: 1 },
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs);

/** The soak's sizes from its flags: a swarm of at least 2 hosts, followed at least 10 s. */
function soakSizes(hosts: number | undefined, durationS: number | undefined, joinS: number | undefined): { hosts?: number; durationS?: number; joinS?: number } {
  if (hosts !== undefined && hosts < 2) throw new BadConfigError(`--hosts must be at least 2; got ${hosts}`);
  if (durationS !== undefined && durationS < 10) throw new BadConfigError(`--duration-s must be at least 10; got ${durationS}`);
  return { ...(hosts !== undefined ? { hosts } : {}), ...(durationS !== undefined ? { durationS } : {}), ...(joinS !== undefined ? { joinS } : {}) };
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(helpText(USAGE, FLAGS));
    return 0;
  }
  const log = createLogger('bench');
  const scenario = (flags.scenario === 'chaos' ? 'failover' : flags.scenario) as ScenarioName;
  if (scenario !== 'scale-soak' && (flags.hosts !== undefined || flags['duration-s'] !== undefined)) {
    throw new BadConfigError('--hosts and --duration-s apply only to --scenario scale-soak');
  }
  if (scenario !== 'scale-soak' && scenario !== 'scale' && flags['join-s'] !== undefined) {
    throw new BadConfigError('--join-s applies only to --scenario scale and scale-soak');
  }
  if (scenario !== 'scale' && flags['warmup-s'] !== undefined) throw new BadConfigError('--warmup-s applies only to --scenario scale');
  const result = await runBench({
    scenario, quick: Boolean(flags.quick), model: flags.model, log,
    hostArgs: flags['host-arg'] ?? [],
    soak: soakSizes(flags.hosts, flags['duration-s'], flags['join-s']),
    scale: {
      ...(flags['join-s'] !== undefined ? { joinMs: flags['join-s'] * 1000 } : {}),
      ...(flags['warmup-s'] !== undefined ? { warmupMs: flags['warmup-s'] * 1000 } : {}),
    },
  });
  process.stdout.write(flags.json ? JSON.stringify(result) + '\n' : formatBench(result));
  return 0;
}
