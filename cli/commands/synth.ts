/**
 * `swarmpath synth --out DIR …`: writes a random-weight model package of any size in the package
 * format (docs/model-format.md), for tests and benchmarks. Prints one `synth_done` event.
 */
import { helpText, parseFlags } from '../../shared/cli-args.ts';
import type { FlagSpecs } from '../../shared/cli-args.ts';
import { BadConfigError } from '../../shared/errors.ts';
import { createLogger, emitEvent } from '../../shared/log.ts';
import { synthPackage } from '../../shared/model/synth.ts';

const SPEC = {
  out: { kind: 'string', help: 'folder to write the package into' },
  'd-model': { kind: 'int', help: 'model width D', default: 64, min: 1 },
  heads: { kind: 'int', help: 'attention heads (D must be a multiple)', default: 4, min: 1 },
  layers: { kind: 'int', help: 'transformer blocks per expert', default: 1, min: 1 },
  levels: { kind: 'string', help: 'experts per level, comma-separated', default: '2,2' },
  vocab: { kind: 'int', help: 'vocabulary size (bytes/1: 256)', default: 256, min: 1 },
  'max-context': { kind: 'int', help: 'longest sequence (position embeddings)', default: 512, min: 1 },
  seed: { kind: 'int', help: 'weight seed', default: 1, min: 0 },
  name: { kind: 'string', help: 'package name', default: 'synth' },
  heldout: { kind: 'int', help: 'write an eval section with this many synthetic held-out docs', default: 0, min: 0 },
  'heldout-bytes': { kind: 'int', help: 'bytes per held-out document', default: 256, min: 1 },
  clusters: { kind: 'int', help: 'router clusters = paths (default: the largest level)', min: 1 },
  'prefix-bytes': { kind: 'int', help: 'routing prefix of the featurizer', default: 64, min: 1 },
  dense: { kind: 'boolean', help: 'with --heldout: also write a dense baseline', default: false },
  help: { kind: 'boolean', help: 'this text', default: false },
} as const satisfies FlagSpecs;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, SPEC);
  if (flags.help) {
    process.stdout.write(helpText('swarmpath synth --out DIR [flags]', SPEC));
    return 0;
  }
  if (typeof flags.out !== 'string' || flags.out === '') throw new BadConfigError('--out is required (the folder to write)');
  const levels = String(flags.levels).split(',').map((s) => Number(s.trim()));
  if (levels.some((k) => !Number.isInteger(k) || k < 1)) throw new BadConfigError(`--levels must be positive integers like 2,2; got ${JSON.stringify(flags.levels)}`);
  const log = createLogger('synth');
  const t0 = performance.now();
  const m = await synthPackage({
    out: flags.out, dModel: flags['d-model'], heads: flags.heads, layers: flags.layers,
    levels, vocab: flags.vocab, maxContext: flags['max-context'], seed: flags.seed,
    name: flags.name, heldout: flags.heldout, heldoutBytes: flags['heldout-bytes'],
    dense: flags.dense, clusters: flags.clusters, prefixBytes: flags['prefix-bytes'], log,
  });
  const experts = m.levels.reduce((n, l) => n + l.experts.length, 0);
  log.info(`wrote ${m.name} to ${flags.out}`, { experts, levels: levels.join(','), d_model: m.dims.d_model });
  emitEvent('synth_done', { dir: flags.out, name: m.name, experts, ms: Math.round(performance.now() - t0) });
  return 0;
}
