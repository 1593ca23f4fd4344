/**
 * Validation of /v1/completions and /v1/chat/completions bodies into one plain request (pure): the
 * zod schemas of request-schema.ts, then the checks that need the model or several fields. Every bad
 * field is a 400 naming the field; an unknown model a 404; `max_tokens` is bounded by the model's
 * context minus the prompt; `logit_bias` keys by the vocabulary.
 */
import type { z } from 'zod';
import { CHAT_STOPS, renderChat } from '../chat-template.ts';
import { BAN_BIAS } from '../sampling/logit-processors.ts';
import type { LogitProcessing } from '../sampling/logit-processors.ts';
import { BadFieldError, UnknownModelError } from './errors.ts';
import { chatBodySchema, completionBodySchema, routeBodySchema } from './request-schema.ts';
import type { ChatBody, CompletionBody, RouteBody } from './request-schema.ts';
import { badFieldFrom, issueMessage } from './schema-errors.ts';

export { MAX_N, MAX_STOPS, MAX_STOP_LENGTH } from './request-schema.ts';

/** Defaults of `max_tokens` when absent: OpenAI's 16 for completions; chat: this, capped by the context. */
export const DEFAULT_MAX_TOKENS_COMPLETION = 16;
export const DEFAULT_MAX_TOKENS_CHAT = 256;
/** The vocabulary of the `bytes/1` tokenizer (shared/model/tokenizer.ts): token ids 0..255. */
export const BYTE_VOCAB_SIZE = 256;

export interface CompletionParams {
  kind: 'completion' | 'chat';
  model: string;
  /** The text the model continues (chat: the rendered conversation). */
  prompt: string;
  promptTokens: Uint8Array;
  maxTokens: number;
  temperature: number;
  topP: number;
  /** Undefined when the request has none (the server draws one). */
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  /** Choices, each its own session (1..MAX_N). */
  n: number;
  /** logit_bias, penalties, top_k, min_p. */
  processing: LogitProcessing;
  /** Alternatives reported per token with its log-probability (completions `logprobs`, chat `top_logprobs`); undefined = none. */
  logprobs: number | undefined;
  /** Completions: the prompt is part of each choice's text (and of its log-probabilities). */
  echo: boolean;
  /** stream_options.include_usage: a last chunk with `usage` and no choices. */
  includeUsage: boolean;
}

export interface ValidationContext {
  modelName: string;
  maxContext: number;
  encode(text: string): Uint8Array;
  /** Token ids are 0..vocabSize-1 (default BYTE_VOCAB_SIZE). */
  vocabSize?: number;
}

type Body = Record<string, unknown>;

/** Validates a completions body. */
export function parseCompletion(body: Body, ctx: ValidationContext): CompletionParams {
  const b = parseWith(completionBodySchema, body);
  const n = b.n ?? 1;
  if (b.best_of != null && b.best_of !== n) throw new BadFieldError('best_of', `only best_of = n (${n}) is supported`);
  const prompt = typeof b.prompt === 'string' ? b.prompt : b.prompt[0];
  return common(b, ctx, {
    kind: 'completion', prompt, extraStops: [], logprobs: b.logprobs ?? undefined, echo: b.echo ?? false,
  });
}

/** Validates a chat completions body; the prompt is the rendered conversation. */
export function parseChat(body: Body, ctx: ValidationContext): CompletionParams {
  const b = parseWith(chatBodySchema, body);
  if (b.top_logprobs != null && b.logprobs !== true) throw new BadFieldError('top_logprobs', 'requires "logprobs": true');
  const messages = b.messages.map((m) => ({
    role: m.role,
    content: typeof m.content === 'string' ? m.content : m.content === null ? '' : m.content.map((p) => p.text).join(''),
  }));
  return common(b, ctx, {
    kind: 'chat', prompt: renderChat(messages), extraStops: [...CHAT_STOPS],
    logprobs: b.logprobs ? (b.top_logprobs ?? 0) : undefined, echo: false,
  });
}

/** Validates a /v1/route body. */
export function parseRoute(body: Body): RouteBody {
  return parseWith(routeBodySchema, body);
}

function parseWith<S extends z.ZodType>(schema: S, body: Body): z.infer<S> {
  const r = schema.safeParse(body, { error: issueMessage });
  if (!r.success) throw badFieldFrom(r.error);
  return r.data;
}

interface Specific {
  kind: CompletionParams['kind'];
  prompt: string;
  extraStops: string[];
  logprobs: number | undefined;
  echo: boolean;
}

function common(b: CompletionBody | ChatBody, ctx: ValidationContext, s: Specific): CompletionParams {
  const model = b.model ?? ctx.modelName;
  if (model !== ctx.modelName) throw new UnknownModelError(model, ctx.modelName);
  if (s.prompt.length === 0) throw new BadFieldError('prompt', 'must not be empty');
  const promptTokens = ctx.encode(s.prompt);
  const stream = b.stream ?? false;
  if (b.stream_options != null && !stream) throw new BadFieldError('stream_options', 'is allowed only with "stream": true');
  const topP = b.top_p ?? 1;
  return {
    kind: s.kind, model, prompt: s.prompt, promptTokens, maxTokens: maxTokens(b, ctx, s.kind, promptTokens.length),
    temperature: b.temperature ?? 1, topP, seed: b.seed ?? undefined,
    stop: [...(typeof b.stop === 'string' ? [b.stop] : b.stop ?? []), ...s.extraStops], stream,
    n: b.n ?? 1, processing: processing(b, ctx.vocabSize ?? BYTE_VOCAB_SIZE), logprobs: s.logprobs, echo: s.echo,
    includeUsage: b.stream_options?.include_usage ?? false,
  };
}

function maxTokens(b: CompletionBody | ChatBody, ctx: ValidationContext, kind: CompletionParams['kind'], promptLength: number): number {
  const room = ctx.maxContext - promptLength;
  if (room < 1) {
    throw new BadFieldError(kind === 'chat' ? 'messages' : 'prompt',
      `the prompt has ${promptLength} tokens; the model's context is ${ctx.maxContext}, which leaves no room to generate`);
  }
  const completionMax = 'max_completion_tokens' in b ? b.max_completion_tokens : undefined;
  const [field, value] = b.max_tokens != null ? ['max_tokens', b.max_tokens] : ['max_completion_tokens', completionMax];
  if (value == null) return Math.min(room, kind === 'chat' ? DEFAULT_MAX_TOKENS_CHAT : DEFAULT_MAX_TOKENS_COMPLETION);
  if (value > room) {
    throw new BadFieldError(field, `must be at most ${room} (context ${ctx.maxContext} minus ${promptLength} prompt tokens); got ${value}`);
  }
  return value;
}

function processing(b: CompletionBody | ChatBody, vocabSize: number): LogitProcessing {
  const logitBias = new Map<number, number>();
  for (const [key, bias] of Object.entries(b.logit_bias ?? {})) {
    const id = Number(key);
    if (id >= vocabSize) throw new BadFieldError(`logit_bias.${key}`, `is not a token id of this model (0..${vocabSize - 1})`);
    logitBias.set(id, bias);
  }
  let banned = 0;
  for (const bias of logitBias.values()) if (bias <= BAN_BIAS) banned++;
  if (banned === vocabSize) throw new BadFieldError('logit_bias', `bans every token (a bias of ${BAN_BIAS} is a ban)`);
  return {
    logitBias, repetitionPenalty: b.repetition_penalty ?? 1, frequencyPenalty: b.frequency_penalty ?? 0,
    presencePenalty: b.presence_penalty ?? 0, topK: Math.max(0, b.top_k ?? 0), minP: b.min_p ?? 0,
  };
}
