/**
 * Logit processing of one request before a token is drawn (pure; no rng). The order is fixed and
 * follows vLLM's sampler, so that a request means the same here as there:
 *
 *   1. `logit_bias`: bias added to the logit of each listed token; -100 bans the token (its logit
 *      becomes -Infinity, as OpenAI documents -100 to mean);
 *   2. `repetition_penalty` (vLLM/HF): the logit of every token seen in the prompt or the output so far
 *      is divided by the penalty when positive and multiplied by it otherwise;
 *   3. `frequency_penalty`, `presence_penalty` (OpenAI): subtract `frequency * count + presence * [count > 0]`,
 *      `count` being the times the token was generated so far (the prompt does not count);
 *   4. `min_p`: tokens whose probability at the request's temperature is below `min_p` times the most
 *      likely one's are masked (-Infinity); skipped when greedy, where it cannot change the argmax;
 *   5. `top_k`: all but the k largest logits are masked (ties broken by the lower token id).
 *
 * Temperature and `top_p` come after, in shared/model/sampling.ts `sampleToken`, which gives masked
 * tokens probability 0. Every step works on the logits as Float32Array values.
 */

export interface LogitProcessing {
  /** Token id → bias in [-100, 100]; -100 bans the token. */
  logitBias: ReadonlyMap<number, number>;
  /** > 0; 1 = off. */
  repetitionPenalty: number;
  /** In [-2, 2]; 0 = off. */
  frequencyPenalty: number;
  presencePenalty: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK: number;
  /** In [0, 1]; 0 = off. */
  minP: number;
}

/** A bias at or below this bans the token (OpenAI: "-100 should result in a ban"). */
export const BAN_BIAS = -100;

export const NO_PROCESSING: LogitProcessing = Object.freeze({
  logitBias: new Map<number, number>(), repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, topK: 0, minP: 0,
});

/** Whether `p` leaves every logit as it is (then the raw logits are sampled without a copy). */
export function isIdentity(p: LogitProcessing): boolean {
  return p.logitBias.size === 0 && p.repetitionPenalty === 1 && p.frequencyPenalty === 0 &&
    p.presencePenalty === 0 && p.topK <= 0 && p.minP <= 0;
}

/** What the penalties read: how often each token was generated, and which tokens the prompt holds. */
export class TokenHistory {
  /** Times each token id was generated so far. */
  readonly counts: Uint32Array;
  /** 1 where the token id occurs in the prompt or the output so far (repetition penalty). */
  readonly seen: Uint8Array;

  constructor(vocabSize: number, prompt: ArrayLike<number>) {
    this.counts = new Uint32Array(vocabSize);
    this.seen = new Uint8Array(vocabSize);
    for (let i = 0; i < prompt.length; i++) this.seen[prompt[i]] = 1;
  }

  /** Records a generated token. */
  push(token: number): void {
    this.counts[token]++;
    this.seen[token] = 1;
  }
}

/** Step 1, in place. */
export function applyLogitBias(logits: Float32Array, bias: ReadonlyMap<number, number>): void {
  for (const [token, b] of bias) {
    if (token < 0 || token >= logits.length) continue;
    logits[token] = b <= BAN_BIAS ? -Infinity : logits[token] + b;
  }
}

/** Step 2, in place: positive logits of seen tokens divided by `penalty`, the others multiplied. */
export function applyRepetitionPenalty(logits: Float32Array, seen: Uint8Array, penalty: number): void {
  if (penalty === 1) return;
  for (let i = 0; i < logits.length; i++) {
    if (seen[i] === 0) continue;
    const v = logits[i];
    logits[i] = v > 0 ? v / penalty : v * penalty;
  }
}

/** Step 3, in place. */
export function applyFrequencyPresence(logits: Float32Array, counts: Uint32Array, frequency: number, presence: number): void {
  if (frequency === 0 && presence === 0) return;
  for (let i = 0; i < logits.length; i++) {
    const c = counts[i];
    if (c > 0) logits[i] -= frequency * c + presence;
  }
}

/**
 * Step 4, in place: masks tokens with softmax(logits / temperature) below `minP` times the largest,
 * i.e. logit < max + temperature * ln(minP). No-op when greedy or `minP` is 0.
 */
export function applyMinP(logits: Float32Array, minP: number, temperature: number): void {
  if (!(minP > 0) || !(temperature > 0)) return;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const floor = max + temperature * Math.log(minP);
  for (let i = 0; i < logits.length; i++) if (logits[i] < floor) logits[i] = -Infinity;
}

/** Step 5, in place: keeps the `k` largest logits (lower id first on ties). No-op when k <= 0 or k >= V. */
export function applyTopK(logits: Float32Array, k: number): void {
  const V = logits.length;
  if (k <= 0 || k >= V) return;
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => cmpDesc(logits[a], logits[b]) || a - b);
  for (let j = k; j < V; j++) logits[order[j]] = -Infinity;
}

/** Descending order that keeps -Infinity last without producing NaN (-Inf - -Inf). */
function cmpDesc(x: number, y: number): number {
  return x === y ? 0 : x > y ? -1 : 1;
}

/**
 * All five steps in order. Returns `raw` itself when `p` is the identity, else a processed copy
 * (`raw` is never changed). `temperature` is the request's (min_p is defined at it).
 */
export function processLogits(raw: Float32Array, history: TokenHistory, p: LogitProcessing, temperature: number): Float32Array {
  if (isIdentity(p)) return raw;
  const out = Float32Array.from(raw);
  applyLogitBias(out, p.logitBias);
  applyRepetitionPenalty(out, history.seen, p.repetitionPenalty);
  applyFrequencyPresence(out, history.counts, p.frequencyPenalty, p.presencePenalty);
  applyMinP(out, p.minP, temperature);
  applyTopK(out, p.topK);
  return out;
}
