/**
 * The sampler of one generation (one choice): logit processing (logit-processors.ts, fixed order),
 * then the runtime's draw (temperature + top_p, one rng number per token when temperature > 0, so
 * that a seeded stream stays aligned whatever the processing), then the raw log-probabilities when
 * asked. Pure apart from the draw's own rng; holds the token history the penalties read.
 */
import { processLogits, TokenHistory } from './logit-processors.ts';
import type { LogitProcessing } from './logit-processors.ts';
import { tokenLogprob } from './logprobs.ts';
import type { TopLogprob } from './logprobs.ts';

export interface TokenSamplerInit {
  processing: LogitProcessing;
  /** The request's temperature (min_p is defined at it; the draw applies it). */
  temperature: number;
  prompt: ArrayLike<number>;
  vocabSize: number;
  /** Alternatives to report per token (0..20); undefined = no log-probabilities. */
  topLogprobs?: number;
}

export interface SampledToken {
  token: number;
  /** Present when log-probabilities were asked for. */
  logprob?: { logprob: number; top: TopLogprob[] };
}

/** Draws a token from processed logits (the runtime's seeded sampler). */
export type Draw = (logits: Float32Array) => number;

export function createTokenSampler(init: TokenSamplerInit, draw: Draw): (rawLogits: Float32Array) => SampledToken {
  const history = new TokenHistory(init.vocabSize, init.prompt);
  return (raw) => {
    const token = draw(processLogits(raw, history, init.processing, init.temperature));
    history.push(token);
    if (init.topLogprobs === undefined) return { token };
    return { token, logprob: tokenLogprob(raw, token, init.topLogprobs) };
  };
}
