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

/**
 * DiPaCo-style re-routing at test time, one rule for the router (router/generation.ts) and
 * `swarmpath eval` (eval.ts). A request first takes the path of its prompt (`choosePath`). After every
 * `every` generated tokens the path is chosen again, from the recent context: the featurizer reads the
 * last `prefix_bytes` bytes of prompt + generated text (the window ending at the newest token), so
 * routing stays causal and its cost stays fixed however long the context grows. The new path computes
 * the whole context again (no mixing of paths inside the hidden states), and predicts the next `every`
 * tokens. In evaluation the routing prefix plays the prompt: the tokens at positions
 * [from + k*every, from + (k+1)*every) are scored on the path chosen from the window ending at
 * from + k*every (k = 0 is the window [0, prefix_bytes): the ordinary routed path).
 */

/** Whether the path is chosen again after the `generated`-th new token (every 0 = never). */
export function rerouteDue(every: number, generated: number): boolean {
  return every > 0 && generated > 0 && generated % every === 0;
}

/** The bytes re-routing reads when the context is `context[0, end)`: its last `prefix_bytes` bytes. */
export function routingWindow(router: RouterSpec, context: Uint8Array, end: number): Uint8Array {
  return context.subarray(Math.max(0, end - router.featurizer.prefix_bytes), end);
}

/** One stretch of a scored document and the cluster whose path predicts it. */
export interface RouteSegment {
  /** First scored position (inclusive). */
  start: number;
  /** End (exclusive). */
  end: number;
  cluster: number;
}

/**
 * The segments of `tokens` scored from `from` with re-routing every `every` tokens (0: one segment on
 * the prompt's path). Consecutive segments may share a cluster; empty when nothing is scored.
 */
export function rerouteSegments(router: RouterSpec, tokens: Uint8Array, from: number, every: number): RouteSegment[] {
  const segments: RouteSegment[] = [];
  const first = choosePath(router, tokens).cluster;
  const step = every > 0 ? every : Math.max(1, tokens.length);
  for (let start = from; start < tokens.length; start += step) {
    const cluster = start === from ? first : choosePath(router, routingWindow(router, tokens, start)).cluster;
    segments.push({ start, end: Math.min(tokens.length, start + step), cluster });
  }
  return segments;
}
