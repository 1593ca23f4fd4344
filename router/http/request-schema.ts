/**
 * The bodies of POST /v1/completions, /v1/chat/completions and /v1/route as zod schemas; their types
 * are inferred from them. Top-level fields are strict: a field this router does not implement is a
 * 400 naming it, never silently ignored. Accepted and ignored (harmless): `user`; chat's `metadata`,
 * `store: false`, `parallel_tool_calls`, `tool_choice: "none"`, `response_format: {"type": "text"}`;
 * `null` for any optional field. Message objects are loose (`name`, `tool_call_id`, `refusal` … are
 * ignored), except `tool_calls`. Checks that need the model (context, vocabulary) and checks across
 * fields are in completion-request.ts.
 */
import { z } from 'zod';
import { CHAT_ROLES } from '../chat-template.ts';
import type { ChatRole } from '../chat-template.ts';

/** Most choices per request (`n`, independent sessions run at once). */
export const MAX_N = 8;
/** Longest stop list and stop string accepted. */
export const MAX_STOPS = 4;
export const MAX_STOP_LENGTH = 256;
/** Completions' `logprobs` and chat's `top_logprobs` at most (OpenAI's limits). */
export const MAX_COMPLETION_LOGPROBS = 5;
export const MAX_TOP_LOGPROBS = 20;

const int = z.number().int();
const range = (min: number, max: number) => z.number().min(min).max(max);
/** A field accepted only when absent, null or an empty list. */
const absent = (why: string) => z.unknown()
  .refine((v) => v === null || (Array.isArray(v) && v.length === 0), { error: why })
  .optional();

const stop = z.union([
  z.string().min(1).max(MAX_STOP_LENGTH),
  z.array(z.string().min(1).max(MAX_STOP_LENGTH)).max(MAX_STOPS, { error: `at most ${MAX_STOPS} stop strings` }),
], { error: `must be a string or an array of at most ${MAX_STOPS} strings` });

/** Fields both endpoints take. */
const sharedFields = {
  model: z.string().nullish(),
  max_tokens: int.min(1).nullish(),
  temperature: range(0, 2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  n: int.min(1).max(MAX_N, { error: `at most ${MAX_N} choices per request` }).nullish(),
  seed: int.nullish(),
  stop: stop.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.strictObject({ include_usage: z.boolean().nullish() }).nullish(),
  frequency_penalty: range(-2, 2).nullish(),
  presence_penalty: range(-2, 2).nullish(),
  /** Token id (a decimal string, as JSON object keys are) → bias. */
  logit_bias: z.record(
    z.string().regex(/^(0|[1-9][0-9]{0,9})$/, { error: 'keys must be token ids (decimal integers)' }),
    range(-100, 100),
  ).nullish(),
  /** vLLM: -1 or 0 = off. */
  top_k: int.min(-1).nullish(),
  min_p: range(0, 1).nullish(),
  /** vLLM: in (0, 2]; 1 = off. */
  repetition_penalty: z.number().gt(0).max(2).nullish(),
  user: z.string().nullish(),
};

export const completionBodySchema = z.strictObject({
  ...sharedFields,
  prompt: z.union([
    z.string(),
    z.tuple([z.string()], { error: 'must be a string or an array of one string (one prompt per request)' }),
  ], { error: (iss) => iss.input == null ? 'is required' : 'must be a string or an array of one string' }),
  logprobs: int.min(0).max(MAX_COMPLETION_LOGPROBS).nullish(),
  echo: z.boolean().nullish(),
  best_of: int.min(1).nullish(),
  suffix: z.literal('', { error: 'is not supported (this model does not fill in the middle)' }).nullish(),
});

const textPart = z.looseObject({
  type: z.literal('text', { error: 'only {"type": "text", "text": string} parts are supported' }),
  text: z.string(),
});

const message = z.looseObject({
  role: z.enum(CHAT_ROLES as readonly ChatRole[] as [ChatRole, ...ChatRole[]], { error: `must be one of ${CHAT_ROLES.join(', ')}` }),
  content: z.union([z.string(), z.array(textPart), z.null()], {
    error: (iss) => iss.input === undefined ? 'is required' : 'must be a string or an array of text parts',
  }),
  tool_calls: absent('tool calls are not supported'),
  function_call: absent('function calls are not supported'),
}).refine((m) => m.content !== null || m.role === 'assistant', {
  path: ['content'], error: 'may be null only in an assistant message',
});

export const chatBodySchema = z.strictObject({
  ...sharedFields,
  messages: z.array(message, { error: (iss) => iss.input == null ? 'is required' : 'must be a non-empty array' })
    .min(1, { error: 'must be a non-empty array' }),
  max_completion_tokens: int.min(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int.min(0).max(MAX_TOP_LOGPROBS).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  store: z.literal(false, { error: 'only false is supported (this router stores nothing)' }).nullish(),
  response_format: z.strictObject({
    type: z.literal('text', { error: 'only "text" is supported' }),
  }).nullish(),
  tools: absent('tools are not supported'),
  functions: absent('functions are not supported'),
  function_call: absent('function calls are not supported'),
  tool_choice: z.literal('none', { error: 'only "none" is supported (no tools)' }).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
});

/** POST /v1/route: other fields are ignored (nothing is generated). */
export const routeBodySchema = z.looseObject({
  prompt: z.string({ error: 'is required and must be a string' }),
});

export type CompletionBody = z.infer<typeof completionBodySchema>;
export type ChatBody = z.infer<typeof chatBodySchema>;
export type ChatMessageBody = z.infer<typeof message>;
export type RouteBody = z.infer<typeof routeBodySchema>;
