/**
 * The generation loop of one request: stem in the router, the path's experts on hosts (a
 * PathSession), head and sampling in the router. Prefill the prompt in one step, then one position
 * per decode step; text is decoded incrementally and cut at stop strings. With the same seed the
 * same request gives the same text, whichever replicas serve it (failover replays exact inputs).
 */
import { SwarmpathError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { PathSession } from './path-session.ts';
import type { StageEvents, StageTimeouts } from './stage-session.ts';
import type { ReplicaPool } from './replica-pool.ts';
import type { RouterRuntime, SamplingParams } from './runtime.ts';
import { StopMatcher } from './stop-matcher.ts';
import type { WireDtype } from '../shared/transport-types.ts';

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
}

export interface GenerateResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  path: readonly string[];
  /** Peer id serving each stage at the end. */
  hosts: string[];
  /** Sessions moved to another replica by replay. */
  replays: number;
}

/** Called with each piece of text as soon as it is final; awaited (backpressure). */
export type OnText = (text: string, info: { hosts: string[]; tokens: number }) => void | Promise<void>;

export interface GeneratorInit extends StageTimeouts {
  wireDtype?: WireDtype;
}

export interface GeneratorComponents {
  runtime: RouterRuntime;
  pool: ReplicaPool;
  clock?: () => number;
  log: Logger;
  events?: StageEvents & {
    /** The first token was sampled. */
    onFirstToken?(): void;
  };
}

export interface Generator {
  generate(req: GenerateRequest, onText?: OnText): Promise<GenerateResult>;
}

export function createGenerator(init: GeneratorInit, c: GeneratorComponents): Generator {
  const D = c.runtime.manifest.dims.d_model;
  return {
    async generate(req, onText) {
      if (req.prompt.length === 0) throw new SwarmpathError('INVALID_ARGUMENT', 'the prompt is empty');
      const session = new PathSession({
        ...init, path: req.path, maxLength: req.prompt.length + req.maxTokens, dModel: D,
        clientSessionId: req.requestId,
      }, { pool: c.pool, clock: c.clock, log: c.log, events: c.events });
      const opts = { signal: req.signal, deadlineMs: req.deadlineMs };
      const decoder = c.runtime.decoder();
      const stopper = new StopMatcher(req.stop);
      const sample = c.runtime.sampler(req.seed, req.sampling);
      let text = '';
      let tokens = 0;
      const emit = async (piece: string) => {
        if (piece === '') return;
        text += piece;
        await onText?.(piece, { hosts: session.hosts(), tokens });
      };
      let failed = true;
      try {
        let pos = 0;
        let h = await session.forward(await c.runtime.embed(req.prompt, 0), 0, opts);
        pos = req.prompt.length;
        let logits = await c.runtime.lastLogits(h);
        let finishReason: FinishReason = 'length';
        for (;;) {
          const token = sample(logits);
          tokens++;
          if (tokens === 1) c.events?.onFirstToken?.();
          const last = tokens >= req.maxTokens;
          const pushed = stopper.push(decoder.push(token) + (last ? decoder.end() : ''));
          await emit(pushed.text);
          if (pushed.type === 'stop') { finishReason = 'stop'; break; }
          if (last) { await emit(stopper.flush()); break; }
          throwIfAborted(req.signal);
          h = await session.forward(await c.runtime.embed([token], pos), pos, opts);
          pos++;
          logits = await c.runtime.lastLogits(h);
        }
        failed = false;
        return {
          text, finishReason, promptTokens: req.prompt.length, completionTokens: tokens,
          path: req.path, hosts: session.hosts(), replays: session.replays(),
        };
      } finally {
        session.close(failed);
      }
    },
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SwarmpathError('CANCELLED', 'request cancelled');
}
