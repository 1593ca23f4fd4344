/**
 * The log-probabilities of one choice's generated tokens, cut to the text the client gets. A token's
 * text starts where the decoded text stood before it (a byte that completes no character starts at its
 * character's start). Text reaches the client later than tokens are sampled (incomplete characters,
 * text that may begin a stop string), and a stop string and what follows it are cut; so a token's
 * entry is handed out only once the emitted text has passed its start, and never when it lies in the
 * cut. Pure.
 */
import type { TokenLogprob, TopLogprob } from './logprobs.ts';

export class LogprobTrail {
  /** Entries not handed out yet, with their start in UTF-16 units (JavaScript string indexes). */
  readonly #pending: { at: number; entry: TokenLogprob }[] = [];
  readonly #taken: TokenLogprob[] = [];
  #units = 0;
  #points = 0;

  /** Records a sampled token; call before `advance` with its decoded text. */
  add(token: number, logprob: number, top: TopLogprob[]): void {
    this.#pending.push({ at: this.#units, entry: { token, logprob, top, offset: this.#points } });
  }

  /** Adds decoded text (before stop handling). */
  advance(text: string): void {
    this.#units += text.length;
    for (const _ of text) this.#points++;
  }

  /** Hands out the entries of tokens that start before `emittedUnits` (the emitted text's length). */
  take(emittedUnits: number): TokenLogprob[] {
    let n = 0;
    while (n < this.#pending.length && this.#pending[n].at < emittedUnits) n++;
    const out = this.#pending.splice(0, n).map((p) => p.entry);
    this.#taken.push(...out);
    return out;
  }

  /** Every entry handed out so far, in order. */
  get taken(): readonly TokenLogprob[] {
    return this.#taken;
  }
}

/**
 * Entries of prompt tokens from the logits that predict each of them (`predicting[t]` predicts token
 * t + 1); the first token has none. `decode` turns one token at a time into completed text.
 */
export function promptTrail(tokens: ArrayLike<number>, logprobs: { logprob: number; top: TopLogprob[] }[],
  decode: (token: number) => string): TokenLogprob[] {
  const out: TokenLogprob[] = [];
  let points = 0;
  for (let t = 0; t < tokens.length; t++) {
    const lp = t === 0 ? null : logprobs[t - 1];
    out.push({ token: tokens[t], logprob: lp ? lp.logprob : null, top: lp ? lp.top : null, offset: points });
    for (const _ of decode(tokens[t])) points++;
  }
  return out;
}
