/**
 * The router's path choice (docs/model-format.md): featurize the prompt prefix, then the nearest
 * centroid by squared Euclidean distance (first on ties), or argmax(W f + b) with a classifier.
 * Pure: no I/O, same answer for the same inputs.
 */
import type { RouterSpec } from '../manifest.ts';
import { featurize } from './featurizer.ts';

export interface PathChoice {
  cluster: number;
  /** One expert id per level. */
  path: readonly string[];
  /** Squared Euclidean distance of the features to each centroid (float64). */
  distances: number[];
}

/** Squared distances of `f` to every centroid. */
export function centroidDistances(router: RouterSpec, f: Float32Array): number[] {
  return router.centroids.map((c) => {
    let s = 0;
    for (let i = 0; i < f.length; i++) { const d = f[i] - c[i]; s += d * d; }
    return s;
  });
}

/** The cluster of features `f`: classifier argmax when present, else the nearest centroid. */
export function clusterOf(router: RouterSpec, f: Float32Array, distances: number[]): number {
  const cls = router.classifier;
  if (cls) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < cls.weights.length; c++) {
      const w = cls.weights[c];
      let s = cls.bias[c];
      for (let i = 0; i < f.length; i++) s += w[i] * f[i];
      if (s > bestScore) { bestScore = s; best = c; }
    }
    return best;
  }
  let best = 0;
  for (let c = 1; c < distances.length; c++) if (distances[c] < distances[best]) best = c;
  return best;
}

/** Chooses the path for a prompt's UTF-8 bytes. */
export function choosePath(router: RouterSpec, promptBytes: Uint8Array): PathChoice {
  const f = featurize(router.featurizer, promptBytes);
  const distances = centroidDistances(router, f);
  const cluster = clusterOf(router, f, distances);
  return { cluster, path: router.paths[cluster], distances };
}
