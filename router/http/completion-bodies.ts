/**
 * OpenAI's response shapes for /v1/completions and /v1/chat/completions (pure): the whole body of a
 * request with one choice per session, and the parts of a stream's chunks. Every body and chunk also
 * carries the extension field `swarmpath: {path, hosts, seed, replays}`; with n > 1 a whole body adds
 * `swarmpath.choices: [{index, seed, hosts, replays}]`. `usage` counts the prompt once and the
 * completion tokens of every choice (OpenAI's rule).
 */
import type { FinishReason, GenerateResult } from '../generation.ts';
import type { TokenLogprob } from '../sampling/logprobs.ts';
import { choiceSeed } from './choices.ts';
import { chatLogprobs, completionLogprobs, shifted } from './logprobs-format.ts';

export interface ResponseShape {
  kind: 'completion' | 'chat';
  id: string;
  created: number;
  model: string;
  /** Completions with `echo`: the prompt, which starts each choice's text. */
  echo: string | undefined;
  /** Whether choices carry log-probabilities. */
  logprobs: boolean;
  path: readonly string[];
  /** The request's seed (choice i samples with choiceSeed(seed, i)). */
  seed: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Usage of a request: the prompt once, the completions of every choice. */
export function usageOf(results: readonly Pick<GenerateResult, 'promptTokens' | 'completionTokens'>[]): Usage {
  const prompt = results[0]?.promptTokens ?? 0;
  const completion = results.reduce((n, r) => n + r.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** The `swarmpath` extension of one choice's chunk or of a single-choice body. */
export function extension(s: ResponseShape, hosts: string[], replays?: number) {
  return { path: s.path, hosts, seed: s.seed, ...(replays !== undefined ? { replays } : {}) };
}

/** The whole (non-streamed) body. */
export function responseBody(s: ResponseShape, results: readonly GenerateResult[]) {
  const choices = results.map((r, index) => s.kind === 'chat'
    ? {
      index, message: { role: 'assistant', content: r.text },
      logprobs: s.logprobs ? chatLogprobs(r.logprobs ?? []) : null, finish_reason: r.finishReason,
    }
    : {
      text: (s.echo ?? '') + r.text, index,
      logprobs: s.logprobs ? completionLogprobs([...(r.promptLogprobs ?? []), ...generated(s, r.logprobs ?? [])]) : null,
      finish_reason: r.finishReason,
    });
  const ext = {
    ...extension(s, results[0].hosts, results.reduce((n, r) => n + r.replays, 0)),
    // Re-routing (--reroute-every): the paths the first choice took, when it changed path.
    ...(results[0].reroutes > 0 ? { paths: results[0].paths, reroutes: results[0].reroutes } : {}),
    ...(results.length > 1
      ? { choices: results.map((r, index) => ({ index, seed: choiceSeed(s.seed, index), hosts: r.hosts, replays: r.replays })) }
      : {}),
  };
  return {
    id: s.id, object: s.kind === 'chat' ? 'chat.completion' : 'text_completion', created: s.created, model: s.model,
    choices, usage: usageOf(results), swarmpath: ext,
  };
}

/** A stream chunk around `choices` (`extra`: usage, swarmpath). */
export function chunk(s: ResponseShape, choices: unknown[], extra: Record<string, unknown>) {
  return {
    id: s.id, object: s.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: s.created, model: s.model,
    choices, ...extra,
  };
}

/**
 * The first chunk's choice for choice `index`, if it has one: chat's `{role: "assistant"}` delta;
 * with echo, the prompt (and its log-probabilities).
 */
export function openingChoice(s: ResponseShape, index: number, promptEntries: readonly TokenLogprob[] | undefined) {
  if (s.kind === 'chat') return { index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null };
  if (s.echo === undefined) return undefined;
  return { text: s.echo, index, logprobs: s.logprobs ? completionLogprobs(promptEntries ?? []) : null, finish_reason: null };
}

/** A piece of generated text of choice `index`, with the entries of its tokens. */
export function pieceChoice(s: ResponseShape, index: number, text: string, entries: readonly TokenLogprob[] | undefined) {
  if (s.kind === 'chat') {
    return { index, delta: { content: text }, logprobs: s.logprobs ? chatLogprobs(entries ?? []) : null, finish_reason: null };
  }
  return { text, index, logprobs: s.logprobs ? completionLogprobs(generated(s, entries ?? [])) : null, finish_reason: null };
}

/** The last chunk's choice of choice `index`. */
export function finishChoice(s: ResponseShape, index: number, reason: FinishReason) {
  return s.kind === 'chat'
    ? { index, delta: {}, logprobs: null, finish_reason: reason }
    : { text: '', index, logprobs: null, finish_reason: reason };
}

/** Generated tokens' entries, their offsets moved past the echoed prompt. */
function generated(s: ResponseShape, entries: readonly TokenLogprob[]): TokenLogprob[] {
  return shifted(entries, s.echo === undefined ? 0 : codePoints(s.echo));
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
