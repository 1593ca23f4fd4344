/**
 * `swarmpath bench [--scenario decode|heavy|load|failover|scale|all] [--quick] [--json] [--model DIR]`: the
 * benchmarks of SPEC.md section 6 (bench/). Prints one JSON object with --json, else a table; logs
 * go to stderr. `npm run bench` runs them all.
 */
import { parseFlags, helpText } from '../../shared/cli-args.ts';
import type { FlagSpecs } from '../../shared/cli-args.ts';
import { createLogger } from '../../shared/log.ts';
import { runBench, formatBench } from '../../bench/run-bench.ts';
import type { ScenarioName } from '../../bench/run-bench.ts';

const USAGE = 'swarmpath bench [--scenario decode|heavy|load|failover|scale|all] [--quick] [--json] [--model DIR] [--host-arg FLAG]…';
const FLAGS = Object.freeze({
  scenario: { kind: 'string', help: 'which benchmark (heavy: the decode loop on a synthesized compute-bound model, in all but not in all --quick; scale: hundreds of simulated hosts on real kad-dht nodes, not part of all)', default: 'all', choices: ['decode', 'heavy', 'load', 'failover', 'chaos', 'scale', 'all'] },
  quick: { kind: 'boolean', help: 'small sizes: finishes within 60 s on 2 cores', default: false },
  json: { kind: 'boolean', help: 'print one JSON object', default: false },
  model: { kind: 'string', help: 'model package (default models/swarmpath-tiny, else a synthetic one)', env: 'SWARMPATH_MODEL' },
  'host-arg': { kind: 'list', help: 'extra flag for every host the bench starts, e.g. --host-arg=--batch-wait-ms=1 (repeatable)' },
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs);

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(helpText(USAGE, FLAGS));
    return 0;
  }
  const log = createLogger('bench');
  const scenario = (flags.scenario === 'chaos' ? 'failover' : flags.scenario) as ScenarioName;
  const result = await runBench({
    scenario, quick: Boolean(flags.quick), model: flags.model, log,
    hostArgs: flags['host-arg'] ?? [],
  });
  process.stdout.write(flags.json ? JSON.stringify(result) + '\n' : formatBench(result));
  return 0;
}
