/**
 * Validation of /v1/completions and /v1/chat/completions bodies into one plain request (pure). Every
 * bad field is a 400 naming the field; an unknown model a 404; `max_tokens` is bounded by the model's
 * context minus the prompt. Fields this router does not use (`user`, `logprobs`, …) are ignored.
 */
import { CHAT_ROLES, CHAT_STOPS, renderChat } from '../chat-template.ts';
import type { ChatMessage, ChatRole } from '../chat-template.ts';
import { BadFieldError, UnknownModelError } from './errors.ts';

/** Defaults of `max_tokens` when absent: OpenAI's 16 for completions; chat: this, capped by the context. */
export const DEFAULT_MAX_TOKENS_COMPLETION = 16;
export const DEFAULT_MAX_TOKENS_CHAT = 256;
/** Longest stop list and stop string accepted. */
export const MAX_STOPS = 4;
export const MAX_STOP_LENGTH = 256;

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
}

export interface ValidationContext {
  modelName: string;
  maxContext: number;
  encode(text: string): Uint8Array;
}

type Body = Record<string, unknown>;

/** Validates a completions body. */
export function parseCompletion(body: Body, ctx: ValidationContext): CompletionParams {
  const model = modelOf(body, ctx);
  let prompt = body.prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (prompt === undefined || prompt === null) throw new BadFieldError('prompt', 'is required');
  if (typeof prompt !== 'string') throw new BadFieldError('prompt', 'must be a string (or an array of one string)');
  return common(body, ctx, 'completion', model, prompt, []);
}

/** Validates a chat completions body; the prompt is the rendered conversation. */
export function parseChat(body: Body, ctx: ValidationContext): CompletionParams {
  const model = modelOf(body, ctx);
  const messages = body.messages;
  if (messages === undefined || messages === null) throw new BadFieldError('messages', 'is required');
  if (!Array.isArray(messages) || messages.length === 0) throw new BadFieldError('messages', 'must be a non-empty array');
  const parsed = messages.map((m, i) => message(m, `messages[${i}]`));
  return common(body, ctx, 'chat', model, renderChat(parsed), [...CHAT_STOPS]);
}

function modelOf(body: Body, ctx: ValidationContext): string {
  const m = body.model;
  if (m === undefined || m === null) return ctx.modelName;
  if (typeof m !== 'string') throw new BadFieldError('model', 'must be a string');
  if (m !== ctx.modelName) throw new UnknownModelError(m, ctx.modelName);
  return m;
}

function message(m: unknown, at: string): ChatMessage {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new BadFieldError(at, 'must be an object with role and content');
  const o = m as Body;
  if (typeof o.role !== 'string' || !CHAT_ROLES.includes(o.role as ChatRole)) {
    throw new BadFieldError(`${at}.role`, `must be one of ${CHAT_ROLES.join(', ')}`);
  }
  const c = o.content;
  let content: string;
  if (typeof c === 'string') content = c;
  else if (c === null && o.role === 'assistant') content = '';
  else if (Array.isArray(c)) {
    content = c.map((part, j) => {
      const p = part as Body;
      if (typeof p !== 'object' || p === null || p.type !== 'text' || typeof p.text !== 'string') {
        throw new BadFieldError(`${at}.content[${j}]`, 'only {"type": "text", "text": string} parts are supported');
      }
      return p.text;
    }).join('');
  } else throw new BadFieldError(`${at}.content`, 'must be a string or an array of text parts');
  return { role: o.role as ChatRole, content };
}

function common(body: Body, ctx: ValidationContext, kind: CompletionParams['kind'], model: string,
  prompt: string, extraStops: string[]): CompletionParams {
  if (prompt.length === 0) throw new BadFieldError('prompt', 'must not be empty');
  const promptTokens = ctx.encode(prompt);
  const room = ctx.maxContext - promptTokens.length;
  if (room < 1) {
    throw new BadFieldError(kind === 'chat' ? 'messages' : 'prompt',
      `the prompt has ${promptTokens.length} tokens; the model's context is ${ctx.maxContext}, which leaves no room to generate`);
  }
  const maxField = body.max_tokens !== undefined && body.max_tokens !== null ? 'max_tokens' : 'max_completion_tokens';
  const maxRaw = body[maxField];
  let maxTokens: number;
  if (maxRaw === undefined || maxRaw === null) {
    maxTokens = Math.min(room, kind === 'chat' ? DEFAULT_MAX_TOKENS_CHAT : DEFAULT_MAX_TOKENS_COMPLETION);
  } else {
    if (typeof maxRaw !== 'number' || !Number.isInteger(maxRaw)) throw new BadFieldError(maxField, 'must be an integer');
    if (maxRaw < 1) throw new BadFieldError(maxField, `must be at least 1; got ${maxRaw}`);
    if (maxRaw > room) {
      throw new BadFieldError(maxField, `must be at most ${room} (context ${ctx.maxContext} minus ${promptTokens.length} prompt tokens); got ${maxRaw}`);
    }
    maxTokens = maxRaw;
  }
  const temperature = optNumber(body, 'temperature', 1, 0, 2);
  const topP = optNumber(body, 'top_p', 1, 0, 1);
  if (topP === 0) throw new BadFieldError('top_p', 'must be greater than 0');
  const n = body.n;
  if (n !== undefined && n !== null && n !== 1) throw new BadFieldError('n', 'only n = 1 is supported');
  let seed: number | undefined;
  if (body.seed !== undefined && body.seed !== null) {
    if (typeof body.seed !== 'number' || !Number.isSafeInteger(body.seed)) throw new BadFieldError('seed', 'must be an integer');
    seed = body.seed;
  }
  const stream = body.stream ?? false;
  if (typeof stream !== 'boolean') throw new BadFieldError('stream', 'must be a boolean');
  return {
    kind, model, prompt, promptTokens, maxTokens, temperature, topP, seed,
    stop: [...stops(body.stop), ...extraStops], stream,
  };
}

function optNumber(body: Body, field: string, def: number, min: number, max: number): number {
  const v = body[field];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadFieldError(field, 'must be a number');
  if (v < min || v > max) throw new BadFieldError(field, `must be in [${min}, ${max}]; got ${v}`);
  return v;
}

function stops(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
    throw new BadFieldError('stop', 'must be a string or an array of strings');
  }
  if (list.length > MAX_STOPS) throw new BadFieldError('stop', `at most ${MAX_STOPS} stop strings`);
  if (list.some((s) => s.length === 0 || s.length > MAX_STOP_LENGTH)) {
    throw new BadFieldError('stop', `each stop string must have 1 to ${MAX_STOP_LENGTH} characters`);
  }
  return list as string[];
}
