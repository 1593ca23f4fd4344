/**
 * Calls bench/host-overhead.ts (written by the expert-host work) when it is there: the overhead of
 * a host over bare onnxruntime and the gain of batching. Loaded by a computed path so that the
 * benchmark builds and runs before that file lands; its result is passed through as it comes.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/log.ts';

export type HostOverhead = Record<string, unknown>;

const FILE = fileURLToPath(new URL('./host-overhead.ts', import.meta.url));

/** The host-overhead figures, or `{ error }` saying why there are none. */
export async function runHostOverhead(modelDir: string, quick: boolean, log: Logger): Promise<HostOverhead | { error: string }> {
  if (!existsSync(FILE)) return { error: 'bench/host-overhead.ts is not there yet' };
  const spec = './host-overhead.ts';
  const mod = await import(spec) as Record<string, unknown>;
  const fn = ['runHostOverhead', 'measureHostOverhead', 'hostOverhead', 'default'].map((k) => mod[k]).find((f) => typeof f === 'function') as
    ((o: { modelDir: string; model: string; quick: boolean; log: Logger }) => Promise<HostOverhead>) | undefined;
  if (!fn) return { error: `bench/host-overhead.ts exports none of runHostOverhead, measureHostOverhead (has ${Object.keys(mod).join(', ')})` };
  log.info('host overhead: running bench/host-overhead.ts');
  return await fn({ modelDir, model: modelDir, quick, log });
}
