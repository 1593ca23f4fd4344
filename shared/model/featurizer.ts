/**
 * Router featurizer `hashed-ngrams/1` (docs/model-format.md): hashed n-gram counts of the prompt's
 * first `prefix_bytes` bytes, log1p, L2-normalised. Arithmetic in float64, result stored as float32.
 * Hot path of every request: one allocation (the result), no strings.
 */
import type { HashedNgramFeaturizer } from '../manifest.ts';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The F = `buckets` features of `bytes` (only the first `prefix_bytes` are read). */
export function featurize(spec: HashedNgramFeaturizer, bytes: Uint8Array): Float32Array {
  const F = spec.buckets;
  const n = Math.min(bytes.length, spec.prefix_bytes);
  const f = new Float32Array(F);
  const orders = spec.orders;
  for (let o = 0; o < orders.length; o++) {
    const k = orders[o];
    // The hash state after the order byte [k] (k < 256: one byte, as the document writes it).
    const seed = Math.imul(FNV_OFFSET ^ (k & 0xff), FNV_PRIME) >>> 0;
    for (let i = 0; i + k <= n; i++) {
      let h = seed;
      for (let j = i; j < i + k; j++) h = Math.imul(h ^ bytes[j], FNV_PRIME) >>> 0;
      f[h % F] += 1;
    }
  }
  let norm = 0;
  for (let i = 0; i < F; i++) {
    if (f[i] !== 0) { const v = Math.log1p(f[i]); norm += v * v; }
  }
  if (norm === 0) return f;
  norm = Math.sqrt(norm);
  for (let i = 0; i < F; i++) if (f[i] !== 0) f[i] = Math.log1p(f[i]) / norm;
  return f;
}

/** FNV-1a 32-bit of `bytes` (exported for tests and tools). */
export function fnv1a32(bytes: Uint8Array): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], FNV_PRIME) >>> 0;
  return h;
}
