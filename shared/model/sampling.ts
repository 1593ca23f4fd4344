/**
 * Token sampling from logits: temperature 0 is greedy argmax (first maximum on ties); otherwise
 * softmax at `temperature`, nucleus (top-p) truncation, and one draw from the seeded rng. Pure
 * given the rng: the same logits, options and rng state give the same token. A logit of -Infinity
 * (a token masked by the router's logit processing: a ban, top_k, min_p) has probability 0 and is
 * never drawn; at least one logit must be finite.
 */
import type { Rng } from './rng.ts';

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 = no truncation. */
  topP: number;
}

/** Index of the largest logit (first on ties). */
export function argmax(logits: Float32Array, offset = 0, length = logits.length - offset): number {
  let best = 0;
  let bv = logits[offset];
  for (let i = 1; i < length; i++) { const v = logits[offset + i]; if (v > bv) { bv = v; best = i; } }
  return best;
}

/**
 * Samples one token from `logits` (length V). Draws exactly one number from `rng` when temperature
 * > 0 and none when greedy, so that a seeded stream stays aligned across implementations.
 */
export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  if (!(opts.temperature > 0)) return argmax(logits);
  const V = logits.length;
  const max = logits[argmax(logits)];
  const probs = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) { const p = Math.exp((logits[i] - max) / opts.temperature); probs[i] = p; sum += p; }
  const u = rng.next();
  const topP = opts.topP > 0 && opts.topP < 1 ? opts.topP : 1;
  if (topP >= 1) return pick(probs, sum, u, null);
  // Nucleus: tokens by descending probability (index ascending on ties) until mass >= topP.
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  let mass = 0;
  let n = 0;
  while (n < V) { mass += probs[order[n]]; n++; if (mass >= topP * sum) break; }
  return pick(probs, mass, u, order.slice(0, n));
}

function pick(probs: Float64Array, total: number, u: number, order: number[] | null): number {
  let target = u * total;
  const n = order ? order.length : probs.length;
  let lastPositive = order ? order[0] : 0;
  for (let j = 0; j < n; j++) {
    const i = order ? order[j] : j;
    if (probs[i] > 0) lastPositive = i;
    target -= probs[i];
    if (target < 0) return i;
  }
  // Rounding left u * total at or above the running sum: the last token that has any probability.
  return lastPositive;
}

/**
 * Stop sequences over generated text: `check(text)` says whether any stop string occurs in `text`
 * and where generation's visible output must end (before the stop string).
 */
export function findStop(text: string, stops: readonly string[]): { type: 'stop'; at: number } | { type: 'none' } {
  let at = -1;
  for (const s of stops) {
    if (s === '') continue;
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at >= 0 ? { type: 'stop', at } : { type: 'none' };
}

/**
 * How many trailing characters of `text` must be held back while streaming, because they could be
 * the start of a stop string (the longest suffix of text that is a proper prefix of a stop).
 */
export function stopHoldback(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(s.slice(0, k))) { hold = k; break; }
    }
  }
  return hold;
}
