/**
 * The decode step of one request with DiPaCo re-routing around it: keeps the context (prompt +
 * generated tokens), asks the pure rule (reroute.ts) after each token whether the path moves, moves
 * the PathSession's stages when it does, runs the step, and reports the move (event + log line) with
 * what it cost. Without re-routing (`every` 0) a step is the plain embed + forward.
 */
import type { Logger } from '../shared/log.ts';
import type { F32 } from '../shared/runtime-types.ts';
import type { PathSession } from './path-session.ts';
import { rerouteAfter } from './reroute.ts';
import type { RouterRuntime } from './runtime.ts';
import type { StepOpts } from './stage-session.ts';

/** One re-route that changed the path. */
export interface RerouteEvent {
  from: readonly string[];
  to: readonly string[];
  /** Stages fromLevel… moved. */
  fromLevel: number;
  /** Positions each moved stage was prefilled with (the whole context). */
  positions: number;
  /** Each moved stage's prefill, seconds, in level order. */
  stageSeconds: readonly number[];
  /** The whole step (stem, every stage, moved or not). */
  seconds: number;
}

export interface RerouteStepInit {
  /** Re-route after every `every` generated tokens (0: never). */
  every: number;
  /** The request's path, served first. */
  path: readonly string[];
  prompt: Uint8Array;
  maxTokens: number;
  requestId?: string;
}

export interface RerouteStepComponents {
  runtime: RouterRuntime;
  clock: () => number;
  log: Logger;
  onReroute?(e: RerouteEvent): void;
}

export interface RerouteStep {
  /** Every path served so far, in order (the request's first). */
  readonly paths: readonly (readonly string[])[];
  /** Runs the `generated`-th token at `position`, re-routing first when due; resolves the session's output. */
  step(session: PathSession, token: number, generated: number, position: number, opts: StepOpts): Promise<F32>;
}

export function rerouteStep(init: RerouteStepInit, c: RerouteStepComponents): RerouteStep {
  const rule = { router: c.runtime.manifest.router, every: init.every };
  const route = (window: Uint8Array) => c.runtime.route(window).path;
  const context = init.every > 0 ? new Uint8Array(init.prompt.length + init.maxTokens) : undefined;
  context?.set(init.prompt);
  const paths: (readonly string[])[] = [init.path];
  return {
    paths,
    async step(session, token, generated, position, opts) {
      if (!context) return session.forward(await c.runtime.embed([token], position), position, opts);
      context[position] = token;
      const from = session.path;
      const decision = rerouteAfter(rule, from, generated, context, position + 1, route);
      if (decision.type === 'keep') return session.forward(await c.runtime.embed([token], position), position, opts);
      session.reroute(decision.path, decision.fromLevel);
      paths.push(decision.path);
      const t0 = c.clock();
      const h = await session.forward(await c.runtime.embed([token], position), position, opts);
      const e: RerouteEvent = {
        from, to: decision.path, fromLevel: decision.fromLevel, positions: position + 1,
        stageSeconds: session.prefillSeconds, seconds: (c.clock() - t0) / 1000,
      };
      c.onReroute?.(e);
      c.log.info('re-routed', {
        request: init.requestId, from: from.join(','), to: e.to.join(','), fromLevel: e.fromLevel, positions: e.positions,
        stageMs: e.stageSeconds.map((s) => Math.round(s * 1e4) / 10), ms: Math.round(e.seconds * 1e4) / 10,
      });
      return h;
    },
  };
}
