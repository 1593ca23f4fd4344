/**
 * POST /v1/completions and /v1/chat/completions: validate, choose the path, generate, and answer in
 * OpenAI's shapes (plus the `swarmpath` extension field `{path, hosts, seed, replays}`), either as one
 * JSON body or, with `stream: true`, as server-sent events ending in `data: [DONE]`. A stream's headers
 * go out with its first token, so a failure before it (e.g. no live replica) still gets its status.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { GenerateResult, Generator } from '../generation.ts';
import type { RouteDecision } from '../runtime.ts';
import { parseChat, parseCompletion } from './completion-request.ts';
import type { CompletionParams, ValidationContext } from './completion-request.ts';
import { SseWriter, sendJson } from './respond.ts';
import { withSpanSync } from '../../shared/telemetry/trace.ts';

export interface CompletionDeps extends ValidationContext {
  route(tokens: Uint8Array): RouteDecision;
  generator: Generator;
  /** Draws a seed for a request without one. */
  randomSeed(): number;
  clock(): number;
  /** Longest a generation may run, ms. */
  requestTimeoutMs: number;
  /** Called with the tokens of each finished generation. */
  onUsage?(promptTokens: number, completionTokens: number): void;
  /** Called once per request with the seconds from its start to its first text. */
  onFirstText?(endpoint: string, seconds: number): void;
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
  const created = Math.floor(deps.clock() / 1000);
  const head = { id, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created, model: p.model };
  const request = {
    prompt: p.promptTokens, path: route.path, maxTokens: p.maxTokens,
    sampling: { temperature: p.temperature, topP: p.topP }, seed, stop: p.stop, signal,
    deadlineMs: deps.clock() + deps.requestTimeoutMs, requestId: id,
  };
  const ext = (hosts: string[], replays?: number) => ({
    path: route.path, hosts, seed, ...(replays !== undefined ? { replays } : {}),
  });

  if (!p.stream) {
    const r = await deps.generator.generate(request, first);
    deps.onUsage?.(r.promptTokens, r.completionTokens);
    sendJson(res, 200, kind === 'chat' ? chatBody(id, created, p, r, ext(r.hosts, r.replays)) : completionBody(id, created, p, r, ext(r.hosts, r.replays)));
    return;
  }

  const sse = new SseWriter(res);
  let roleSent = false;
  const sendRole = async (hosts: string[]) => {
    if (kind !== 'chat' || roleSent) return;
    roleSent = true;
    await sse.send({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], swarmpath: ext(hosts) });
  };
  try {
    const r = await deps.generator.generate(request, async (text, info) => {
      first();
      await sendRole(info.hosts);
      const choice = kind === 'chat'
        ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: null }
        : { text, index: 0, logprobs: null, finish_reason: null };
      await sse.send({ ...head, choices: [choice], swarmpath: ext(info.hosts) });
    });
    deps.onUsage?.(r.promptTokens, r.completionTokens);
    await sendRole(r.hosts);
    const last = kind === 'chat'
      ? { index: 0, delta: {}, logprobs: null, finish_reason: r.finishReason }
      : { text: '', index: 0, logprobs: null, finish_reason: r.finishReason };
    await sse.send({ ...head, choices: [last], usage: usage(r), swarmpath: ext(r.hosts, r.replays) });
    await sse.done();
  } catch (err) {
    if (!sse.started) throw err;
    sse.fail(err);
  }
}

function usage(r: GenerateResult) {
  return { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
}

function completionBody(id: string, created: number, p: CompletionParams, r: GenerateResult, ext: unknown) {
  return {
    id, object: 'text_completion', created, model: p.model,
    choices: [{ text: r.text, index: 0, logprobs: null, finish_reason: r.finishReason }],
    usage: usage(r), swarmpath: ext,
  };
}

function chatBody(id: string, created: number, p: CompletionParams, r: GenerateResult, ext: unknown) {
  return {
    id, object: 'chat.completion', created, model: p.model,
    choices: [{ index: 0, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: r.finishReason }],
    usage: usage(r), swarmpath: ext,
  };
}
