/**
 * POST /v1/completions and /v1/chat/completions: validate, choose the path (once: it depends on the
 * prompt only), run the `n` choices as independent sessions at once (choices.ts), and answer in
 * OpenAI's shapes (completion-bodies.ts), either as one JSON body or, with `stream: true`, as
 * server-sent events (completion-stream.ts).
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { GenerateRequest, Generator } from '../generation.ts';
import type { RouteDecision } from '../runtime.ts';
import { choiceSeed, runChoices } from './choices.ts';
import { responseBody } from './completion-bodies.ts';
import type { ResponseShape } from './completion-bodies.ts';
import { parseChat, parseCompletion } from './completion-request.ts';
import type { ValidationContext } from './completion-request.ts';
import { streamChoices } from './completion-stream.ts';
import { sendJson } from './respond.ts';
import { withSpanSync } from '../../shared/telemetry/trace.ts';

export interface CompletionDeps extends ValidationContext {
  route(tokens: Uint8Array): RouteDecision;
  generator: Generator;
  /** Draws a seed for a request without one. */
  randomSeed(): number;
  clock(): number;
  /** Longest a generation may run, ms. */
  requestTimeoutMs: number;
  /** Called with the tokens of each finished generation (each choice). */
  onUsage?(promptTokens: number, completionTokens: number): void;
  /** Called once per request with the seconds from its start to its first text. */
  onFirstText?(endpoint: string, seconds: number): void;
  /** Longest wait for a streaming client to take the next event, ms (then the stream is cut off). */
  writeTimeoutMs?: number;
}

/** Handles one request whose body is parsed; throws SwarmpathErrors for the caller to answer. */
export async function handleCompletion(kind: 'completion' | 'chat', body: Record<string, unknown>,
  res: ServerResponse, signal: AbortSignal, deps: CompletionDeps): Promise<void> {
  const t0 = deps.clock();
  const endpoint = kind === 'chat' ? '/v1/chat/completions' : '/v1/completions';
  let firstSeen = false;
  const first = () => {
    if (firstSeen) return;
    firstSeen = true;
    deps.onFirstText?.(endpoint, (deps.clock() - t0) / 1000);
  };
  const p = kind === 'chat' ? parseChat(body, deps) : parseCompletion(body, deps);
  const seed = p.seed ?? deps.randomSeed();
  const route = withSpanSync('route', { 'swarmpath.prompt_tokens': p.promptTokens.length }, (span) => {
    const r = deps.route(p.promptTokens);
    span.setAttribute('swarmpath.path', r.path.join(','));
    span.setAttribute('swarmpath.cluster', r.cluster);
    return r;
  });
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`;
  const shape: ResponseShape = {
    kind, id, created: Math.floor(deps.clock() / 1000), model: p.model, echo: p.echo ? p.prompt : undefined,
    logprobs: p.logprobs !== undefined, path: route.path, seed,
  };
  const deadlineMs = deps.clock() + deps.requestTimeoutMs;
  const request = (index: number, choiceSignal: AbortSignal): GenerateRequest => ({
    prompt: p.promptTokens, path: route.path, maxTokens: p.maxTokens,
    sampling: { temperature: p.temperature, topP: p.topP }, seed: choiceSeed(seed, index), stop: p.stop,
    signal: choiceSignal, deadlineMs, requestId: p.n > 1 ? `${id}.${index}` : id, processing: p.processing,
    ...(p.logprobs !== undefined ? { logprobs: p.logprobs, promptLogprobs: p.echo } : {}),
  });
  const usage = (r: { promptTokens: number; completionTokens: number }) => deps.onUsage?.(r.promptTokens, r.completionTokens);

  if (!p.stream) {
    const results = await runChoices(p.n, signal, (index, s) => deps.generator.generate(request(index, s), first));
    for (const r of results) usage(r);
    sendJson(res, 200, responseBody(shape, results));
    return;
  }
  await streamChoices(res, shape, {
    n: p.n, includeUsage: p.includeUsage, signal,
    generate: (index, s, onText) => deps.generator.generate(request(index, s), onText),
    onText: first, onDone: usage, ...(deps.writeTimeoutMs !== undefined ? { writeTimeoutMs: deps.writeTimeoutMs } : {}),
  });
}
