/**
 * Log-probabilities reported to clients (pure). They are the log-softmax of the model's **raw**
 * logits at temperature 1, before logit_bias, penalties, temperature, min_p, top_k and top_p, as
 * vLLM reports by default (`logprobs_mode = raw_logprobs`): they describe the model, not the
 * request's sampler, and are always finite (a banned token still has one).
 */

/** One alternative at a position. */
export interface TopLogprob {
  token: number;
  logprob: number;
}

/**
 * The log-probability of the token at one position. `logprob` and `top` are null only for the first
 * prompt token (nothing precedes it). `offset`: where the token's text starts, in code points from the
 * start of the text it belongs to (the completion, or the prompt for prompt tokens).
 */
export interface TokenLogprob {
  token: number;
  logprob: number | null;
  top: TopLogprob[] | null;
  offset: number;
}

/** log softmax(logits), in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(n);
  if (max === -Infinity) return out.fill(-Infinity);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < n; i++) out[i] = logits[i] - lse;
  return out;
}

/** The `k` most likely tokens of `logprobs`, most likely first (lower id first on ties). */
export function topLogprobs(logprobs: Float64Array, k: number): TopLogprob[] {
  if (k <= 0) return [];
  const out: TopLogprob[] = [];
  // Insertion into a short sorted list: k <= 20, V = 256.
  for (let i = 0; i < logprobs.length; i++) {
    const v = logprobs[i];
    if (out.length === k && !(v > out[k - 1].logprob)) continue;
    let j = out.length < k ? out.length : k - 1;
    while (j > 0 && v > out[j - 1].logprob) j--;
    out.splice(j, 0, { token: i, logprob: v });
    if (out.length > k) out.pop();
  }
  return out;
}

/** The chosen token's log-probability and the `k` best alternatives, from raw logits. */
export function tokenLogprob(rawLogits: ArrayLike<number>, token: number, k: number): { logprob: number; top: TopLogprob[] } {
  const lp = logSoftmax(rawLogits);
  return { logprob: lp[token], top: topLogprobs(lp, k) };
}
