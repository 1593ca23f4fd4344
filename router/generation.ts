/**
 * The generation loop of one request (one choice): stem in the router, the path's experts on hosts
 * (a PathSession), head and sampling in the router. Prefill the prompt in one step, then one position
 * per decode step; text is decoded incrementally and cut at stop strings. Sampling is
 * sampling/token-sampler.ts: logit processing in a fixed order, then the runtime's seeded draw. With
 * the same seed the same request gives the same text, whichever replicas serve it (failover replays
 * exact inputs). Log-probabilities (raw, sampling/logprobs.ts) come with the text they belong to.
 * With `rerouteEvery` N > 0 the path is chosen again after every N generated tokens from the last
 * `prefix_bytes` bytes of the context (reroute.ts, reroute-step.ts; the rule `swarmpath eval` scores
 * as `reroute_bpb`); when it changes, the stages from the first changed level move (path-session.ts).
 */
import { SwarmpathError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { F32 } from '../shared/runtime-types.ts';
import { PathSession, type ChainMode } from './path-session.ts';
import { rerouteStep } from './reroute-step.ts';
import type { RerouteEvent } from './reroute-step.ts';
import type { StageEvents, StageTimeouts } from './stage-session.ts';
import type { ReplicaPool } from './replica-pool.ts';
import type { RouterRuntime, SamplingParams } from './runtime.ts';
import { StopMatcher } from './stop-matcher.ts';
import { NO_PROCESSING } from './sampling/logit-processors.ts';
import type { LogitProcessing } from './sampling/logit-processors.ts';
import { LogprobTrail, promptTrail } from './sampling/logprob-trail.ts';
import { tokenLogprob } from './sampling/logprobs.ts';
import type { TokenLogprob, TopLogprob } from './sampling/logprobs.ts';
import { createTokenSampler } from './sampling/token-sampler.ts';
import type { WireDtype } from '../shared/transport-types.ts';

export type { RerouteEvent } from './reroute-step.ts';

export type FinishReason = 'stop' | 'length';

export interface GenerateRequest {
  /** Prompt tokens (at least one). */
  prompt: Uint8Array;
  path: readonly string[];
  /** New tokens at most (>= 1; prompt + maxTokens <= max_context). */
  maxTokens: number;
  sampling: SamplingParams;
  seed: number;
  stop: readonly string[];
  signal?: AbortSignal;
  /** Absolute deadline, ms since the epoch. */
  deadlineMs: number;
  /** For host logs and traces. */
  requestId?: string;
  /** Logit bias, penalties, top_k, min_p (sampling/logit-processors.ts); none when absent. */
  processing?: LogitProcessing;
  /** Report each generated token's log-probability with this many alternatives (0..20); none when absent. */
  logprobs?: number;
  /** Also the prompt tokens' log-probabilities (with `logprobs` alternatives each), from the prefill. */
  promptLogprobs?: boolean;
}

export interface GenerateResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** The request's path (the prompt's), served first. */
  path: readonly string[];
  /** Every path served, in order: `path`, then the new one of each re-route that changed it. */
  paths: (readonly string[])[];
  /** Re-routes that changed the path (paths.length - 1). */
  reroutes: number;
  /** Peer id serving each stage at the end. */
  hosts: string[];
  /** Sessions moved to another replica by replay. */
  replays: number;
  /** With `logprobs`: one entry per token of `text` (tokens of a cut stop string are left out). */
  logprobs?: TokenLogprob[];
  /** With `promptLogprobs`: one entry per prompt token, the first without a log-probability. */
  promptLogprobs?: TokenLogprob[];
}

export interface TextInfo {
  hosts: string[];
  /** The path now served (it changes with a re-route). */
  path: readonly string[];
  /** Tokens generated so far. */
  tokens: number;
  /** With `logprobs`: the entries of the tokens whose text starts in this piece. */
  logprobs?: TokenLogprob[];
  /** With `promptLogprobs`: the prompt's entries (the same on every call). */
  promptLogprobs?: TokenLogprob[];
}

/** Called with each piece of text as soon as it is final; awaited (backpressure). */
export type OnText = (text: string, info: TextInfo) => void | Promise<void>;

export interface GeneratorInit extends StageTimeouts {
  wireDtype?: WireDtype;
  /** Chained steps (host-to-host forwarding, router/path-session.ts); default off. */
  chain?: ChainMode;
  /** Choose the path again after every N generated tokens (router --reroute-every); 0 or absent: never. */
  rerouteEvery?: number;
  /** Positions of a pipelined prefill's chunks (router --prefill-chunk; path-session.ts). */
  prefillChunk?: number;
}

export interface GeneratorComponents {
  runtime: RouterRuntime;
  pool: ReplicaPool;
  clock?: () => number;
  log: Logger;
  events?: StageEvents & {
    /** The first token was sampled. */
    onFirstToken?(): void;
    /** A re-route changed the path (reroute-step.ts), once its step is done. */
    onReroute?(e: RerouteEvent): void;
  };
}

export interface Generator {
  generate(req: GenerateRequest, onText?: OnText): Promise<GenerateResult>;
}

export function createGenerator(init: GeneratorInit, c: GeneratorComponents): Generator {
  const D = c.runtime.manifest.dims.d_model;
  const every = init.rerouteEvery ?? 0;
  return {
    async generate(req, onText) {
      if (req.prompt.length === 0) throw new SwarmpathError('INVALID_ARGUMENT', 'the prompt is empty');
      const session = new PathSession({
        ...init, path: req.path, maxLength: req.prompt.length + req.maxTokens, dModel: D,
        clientSessionId: req.requestId, recordInputs: every > 0,
      }, { pool: c.pool, clock: c.clock, log: c.log, events: c.events });
      const opts = { signal: req.signal, deadlineMs: req.deadlineMs };
      const decoder = c.runtime.decoder();
      const stopper = new StopMatcher(req.stop);
      const sample = createTokenSampler({
        processing: req.processing ?? NO_PROCESSING, temperature: req.sampling.temperature, prompt: req.prompt,
        vocabSize: c.runtime.manifest.dims.vocab_size, topLogprobs: req.logprobs,
      }, c.runtime.sampler(req.seed, req.sampling));
      const trail = req.logprobs !== undefined ? new LogprobTrail() : undefined;
      let promptLogprobs: TokenLogprob[] | undefined;
      let text = '';
      let tokens = 0;
      const decode = rerouteStep({ every, path: req.path, prompt: req.prompt, maxTokens: req.maxTokens, requestId: req.requestId },
        { runtime: c.runtime, clock: c.clock ?? Date.now, log: c.log, onReroute: c.events?.onReroute });
      const emit = async (piece: string) => {
        if (piece === '') return;
        text += piece;
        const logprobs = trail?.take(text.length);
        await onText?.(piece, { hosts: session.hosts(), path: session.path, tokens, ...(logprobs ? { logprobs } : {}), ...(promptLogprobs ? { promptLogprobs } : {}) });
      };
      let failed = true;
      try {
        let pos = 0;
        let h = await session.forward(await c.runtime.embed(req.prompt, 0), 0, opts);
        pos = req.prompt.length;
        if (req.promptLogprobs) promptLogprobs = await promptEntries(c.runtime, h, req.prompt, D, req.logprobs ?? 0, req.signal);
        let logits = await c.runtime.lastLogits(h);
        let finishReason: FinishReason = 'length';
        for (;;) {
          const s = sample(logits);
          const token = s.token;
          if (s.logprob) trail?.add(token, s.logprob.logprob, s.logprob.top);
          tokens++;
          if (tokens === 1) c.events?.onFirstToken?.();
          const last = tokens >= req.maxTokens;
          const decoded = decoder.push(token) + (last ? decoder.end() : '');
          trail?.advance(decoded);
          const pushed = stopper.push(decoded);
          await emit(pushed.text);
          if (pushed.type === 'stop') { finishReason = 'stop'; break; }
          if (last) { await emit(stopper.flush()); break; }
          throwIfAborted(req.signal);
          h = await decode.step(session, token, tokens, pos, opts);
          pos++;
          logits = await c.runtime.lastLogits(h);
        }
        failed = false;
        const paths = [...decode.paths];
        return {
          text, finishReason, promptTokens: req.prompt.length, completionTokens: tokens,
          path: req.path, paths, reroutes: paths.length - 1, hosts: session.hosts(), replays: session.replays(),
          ...(trail ? { logprobs: [...trail.taken] } : {}), ...(promptLogprobs ? { promptLogprobs } : {}),
        };
      } finally {
        session.close(failed);
      }
    },
  };
}

/**
 * The prompt tokens' entries from the prefill's output [1,T,D]. The head is position-wise (a final
 * LayerNorm then a linear map, docs/model-format.md), so the logits at position t are the head of row
 * t alone: `lastLogits` of a one-position tensor, through the runtime's narrow interface.
 */
async function promptEntries(rt: RouterRuntime, hidden: F32, prompt: Uint8Array, D: number, k: number,
  signal: AbortSignal | undefined): Promise<TokenLogprob[]> {
  const predicting: { logprob: number; top: TopLogprob[] }[] = [];
  for (let t = 0; t + 1 < prompt.length; t++) {
    throwIfAborted(signal);
    const logits = await rt.lastLogits({ data: hidden.data.slice(t * D, (t + 1) * D), dims: [1, 1, D] });
    predicting.push(tokenLogprob(logits, prompt[t + 1], k));
  }
  const decoder = rt.decoder();
  return promptTrail(prompt, predicting, (token) => decoder.push(token));
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SwarmpathError('CANCELLED', 'request cancelled');
}
