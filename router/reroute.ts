/**
 * The router's re-routing decision (DiPaCo, "routing again every 64 tokens"), pure: after every
 * `every` generated tokens the path is chosen again from the recent context (the rule, shared with
 * `swarmpath eval`, is shared/model/path-choice.ts `rerouteDue` and `routingWindow`), and this says
 * which stages of the running path must move.
 *
 * Why everything from the first changed level moves: a stage's input is the output of the level
 * before it, over the whole context. When level l's expert changes, level l's outputs change for every
 * position, so every later stage has seen inputs that are no longer right, even where its expert stays
 * the same. Stages before l saw exactly what the new path would send them and keep their sessions (and
 * KV caches). So the stages from l on open new sessions and are prefilled with the whole context.
 */
import type { RouterSpec } from '../shared/manifest.ts';
import { rerouteDue, routingWindow } from '../shared/model/path-choice.ts';

export type RerouteDecision =
  /** No re-route is due, or the new path is the current one. */
  | { type: 'keep' }
  /** Stages `fromLevel`… move to `path`'s experts and are prefilled with the whole context. */
  | { type: 'move'; path: readonly string[]; fromLevel: number };

/** Compares the running path with the one chosen again: the first level whose expert differs. */
export function decideReroute(current: readonly string[], next: readonly string[]): RerouteDecision {
  const fromLevel = current.findIndex((id, l) => id !== next[l]);
  return fromLevel < 0 ? { type: 'keep' } : { type: 'move', path: next, fromLevel };
}

/**
 * The decision after the `generated`-th new token, the context being `context[0, end)` (prompt and
 * generated tokens, the newest last): `route` chooses a path from the routing window.
 */
export function rerouteAfter(init: { router: RouterSpec; every: number }, current: readonly string[], generated: number,
  context: Uint8Array, end: number, route: (window: Uint8Array) => readonly string[]): RerouteDecision {
  if (!rerouteDue(init.every, generated)) return { type: 'keep' };
  return decideReroute(current, route(routingWindow(init.router, context, end)));
}
