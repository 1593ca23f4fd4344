/**
 * `swarmpath eval --model DIR [--json] [--reroute-every N]`: the model's quality table (SPEC.md
 * section 5), with `reroute_bpb` (the path chosen again every N tokens, the router's --reroute-every
 * rule). With --json, one JSON object on stdout; otherwise a readable table.
 */
import { helpText, parseFlags } from '../../shared/cli-args.ts';
import type { FlagSpecs } from '../../shared/cli-args.ts';
import { BadConfigError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { evaluatePackage } from '../../shared/model/eval.ts';
import type { BpbTable, EvalReport } from '../../shared/model/eval.ts';
import { loadPackage } from '../../shared/model/package.ts';

const SPEC = {
  model: { kind: 'string', help: 'model package folder', env: 'SWARMPATH_MODEL', default: 'models/swarmpath-tiny' },
  json: { kind: 'boolean', help: 'print one JSON object', default: false },
  workers: { kind: 'int', help: 'worker threads scoring documents in parallel (default: min(2, cores))', min: 1, max: 64 },
  threads: { kind: 'int', help: 'onnxruntime intra-op threads per worker', default: 1, min: 1, max: 64 },
  'max-docs': { kind: 'int', help: 'score only the first N documents', min: 1 },
  'reroute-every': { kind: 'int', help: 'reroute_bpb: choose the path again every N tokens from the last prefix_bytes bytes (as router --reroute-every)', default: 64, min: 1 },
  help: { kind: 'boolean', help: 'this text', default: false },
} as const satisfies FlagSpecs;

const f = (x: number | null) => (x === null || Number.isNaN(x) ? '   -  ' : x.toFixed(4));

function row(name: string, t: BpbTable): string {
  return `${name.padEnd(14)} ${String(t.docs).padStart(5)} ${String(t.heldout_bytes).padStart(9)}  ${f(t.routed_bpb)}  ${f(t.random_path_bpb)}  ${f(t.oracle_path_bpb)}  ${f(t.dense_bpb)}  ${f(t.reroute_bpb)}`;
}

/** The human-readable table. */
export function formatReport(r: EvalReport): string {
  const lines = [
    `model ${r.model}: bits per byte after the ${r.prefix_bytes}-byte routing prefix (${r.seconds.toFixed(1)} s)`,
    `reroute: the path chosen again every ${r.reroute_every} tokens; it changed in ${r.rerouted_docs} of ${r.docs} documents (${r.path_changes} changes)`,
    '',
    `${'domain'.padEnd(14)} ${'docs'.padStart(5)} ${'bytes'.padStart(9)}  routed  random  oracle   dense reroute`,
    row('all', r),
    ...Object.entries(r.per_domain).map(([d, t]) => row(d, t)),
    '',
    'paths (cluster: path  bpb of all docs on it):',
    ...r.paths.map((p, i) => `  ${String(i).padStart(2)}: ${p.join(' > ').padEnd(24)} ${f(r.path_bpb[i])}`),
    '',
    'routed share of each domain\'s documents by cluster:',
    ...Object.entries(r.routed_path_share_by_domain).map(([d, s]) =>
      `  ${d.padEnd(12)} ${Object.entries(s).sort((a, b) => b[1] - a[1]).map(([c, v]) => `${c}:${(100 * v).toFixed(0)}%`).join('  ')}`),
  ];
  return lines.join('\n') + '\n';
}

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, SPEC);
  if (flags.help) {
    process.stdout.write(helpText('swarmpath eval --model DIR [--json] [--reroute-every N]', SPEC));
    return 0;
  }
  if (typeof flags.model !== 'string' || flags.model === '') throw new BadConfigError('--model is required');
  const log = createLogger('eval');
  const pkg = await loadPackage(flags.model);
  const report = await evaluatePackage(pkg, { log, workers: flags.workers, threads: flags.threads, maxDocs: flags['max-docs'], rerouteEvery: flags['reroute-every'] });
  process.stdout.write(flags.json ? JSON.stringify(report) + '\n' : formatReport(report));
  return 0;
}
