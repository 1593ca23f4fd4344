/**
 * Expert probes (docs/model-format.md, "Probes"): a reproducible input, the fingerprint of an output,
 * and the tolerance check. The Python pipeline implements the same definition.
 */
import { BadPackageError } from '../errors.ts';
import type { ExpertProbe, ModelDims } from '../manifest.ts';
import type { ExpertModel } from '../runtime-types.ts';
import { emptyPast } from './kv-cache.ts';
import { mulberry32 } from './rng.ts';

/** Number of projections in a fingerprint. */
export const FINGERPRINT_SIZE = 8;

/** The probe input `hidden` [1, T, D] for `seed`: element i is `2 * next() - 1` of one stream. */
export function probeInput(seed: number, tokens: number, dModel: number): Float32Array {
  const u = mulberry32(seed);
  const out = new Float32Array(tokens * dModel);
  for (let i = 0; i < out.length; i++) out[i] = 2 * u() - 1;
  return out;
}

/** fingerprint[k] = sum_i out[i] * r_k[i], r_k from the stream seeded `seed + 1 + k`, in float64. */
export function fingerprint(seed: number, hiddenOut: Float32Array): number[] {
  const fp: number[] = [];
  for (let k = 0; k < FINGERPRINT_SIZE; k++) {
    const u = mulberry32((seed + 1 + k) >>> 0);
    let s = 0;
    for (let i = 0; i < hiddenOut.length; i++) s += hiddenOut[i] * (2 * u() - 1);
    fp.push(s);
  }
  return fp;
}

/** True when every |got_k - want_k| <= 1e-3 * max(1, |want_k|). */
export function fingerprintMatches(got: readonly number[], want: readonly number[]): boolean {
  if (got.length !== want.length) return false;
  for (let k = 0; k < want.length; k++) {
    if (!(Math.abs(got[k] - want[k]) <= 1e-3 * Math.max(1, Math.abs(want[k])))) return false;
  }
  return true;
}

/** Runs the probe input through a local expert and returns the output's fingerprint. */
export async function computeFingerprint(expert: ExpertModel, seed: number, tokens: number,
  dims: Pick<ModelDims, 'd_model' | 'n_heads' | 'head_dim'>): Promise<number[]> {
  const L = expert.entry.layers;
  const { hiddenOut } = await expert.run(
    { data: probeInput(seed, tokens, dims.d_model), dims: [1, tokens, dims.d_model] },
    emptyPast(L, 1),
    { data: new Float32Array(tokens).fill(1), dims: [1, tokens] },
  );
  return fingerprint(seed, hiddenOut.data);
}

/**
 * Throws BadPackageError unless a local expert reproduces its manifest probe: a host checks each
 * expert it opens, so a broken runtime or device never serves wrong numbers.
 */
export async function assertProbe(expert: ExpertModel, probe: ExpertProbe,
  dims: Pick<ModelDims, 'd_model' | 'n_heads' | 'head_dim'>): Promise<void> {
  const got = await computeFingerprint(expert, probe.seed, probe.tokens, dims);
  if (fingerprintMatches(got, probe.fingerprint)) return;
  throw new BadPackageError(`expert ${expert.entry.id} on ${expert.device} does not reproduce its manifest probe ` +
    `(fingerprint ${fmt(got)}, manifest ${fmt(probe.fingerprint)}, tolerance 1e-3 relative): the runtime or device computes ` +
    'something else, or the manifest does not belong to this file');
}

const fmt = (xs: readonly number[]) => `[${xs.map((x) => x.toPrecision(6)).join(', ')}]`;

/** Checks a local expert against its manifest probe. */
export async function checkProbe(expert: ExpertModel, probe: ExpertProbe,
  dims: Pick<ModelDims, 'd_model' | 'n_heads' | 'head_dim'>): Promise<boolean> {
  return fingerprintMatches(await computeFingerprint(expert, probe.seed, probe.tokens, dims), probe.fingerprint);
}
