/**
 * Which model the benchmark runs: `--model DIR` when given, else the bundled models/swarmpath-tiny
 * when its manifest is there, else a random-weight package of the same shape built by `synth` into a
 * temporary folder (removed by `cleanup`).
 */
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/log.ts';

export const BUNDLED_MODEL = fileURLToPath(new URL('../models/swarmpath-tiny', import.meta.url));

/** Shape of the synthetic stand-in: the tiny model's documented dimensions (docs/model-format.md). */
export const SYNTH_SHAPE = { dModel: 128, heads: 4, layers: 2, levels: [2, 2], maxContext: 1024, seed: 7, name: 'bench-synth' } as const;

export interface BenchModel {
  dir: string;
  source: 'flag' | 'bundled' | 'synth';
  cleanup(): void;
}

export async function resolveBenchModel(flag: string | undefined, log: Logger): Promise<BenchModel> {
  if (flag) return { dir: flag, source: 'flag', cleanup() {} };
  if (existsSync(join(BUNDLED_MODEL, 'manifest.json'))) return { dir: BUNDLED_MODEL, source: 'bundled', cleanup() {} };
  const dir = join(tmpdir(), `swarmpath-bench-${process.pid}`);
  log.info('models/swarmpath-tiny not found; benchmarking a synthetic package of its shape', { dir });
  const { synthPackage } = await import('../shared/model/synth.ts');
  await synthPackage({ ...SYNTH_SHAPE, levels: [...SYNTH_SHAPE.levels], out: dir });
  return { dir, source: 'synth', cleanup() { rmSync(dir, { recursive: true, force: true }); } };
}
