/**
 * The rebalancing decision (issue 5; DESIGN-NOTES "SWARM parallelism", Petals' block selection):
 * a pure function of the swarm's host records, this host's experts, the target replica count and
 * measured demand, returning what this host should do now.
 *
 * - A host that serves nothing (`--auto` newcomer) joins the neediest expert: the lowest score
 *   (supply / want, balance.ts); an expert with no live replica first.
 * - A host that serves something simulates moving one of its experts `a` to another expert `b`
 *   and moves only if `b` is clearly needier than `a` will be after the move:
 *   `min(s_a, s_b) < balanceRatio * s_a'` (0.75, Petals' balance quality). Comparing with the
 *   source's score after the move, not the target's (which rises by at most (r+1)/r), lets a hot
 *   expert gain a fourth or fifth replica when demand asks for it.
 * - It leaves `a` only when `a` is over-provisioned, keeping at least `targetReplicas` replicas
 *   there, or, when `b` has no live replica at all, keeping at least `minReplicas` (1): an expert
 *   nobody serves is worse than an expert below its target. Demand thus decides where spare hosts
 *   go, but never strips an expert below its target for a merely busier one.
 *
 * Why this does not oscillate under steady demand: every move replaces two scores by two scores
 * that are both above the smaller of the old pair (s_a' > s_b / 0.75 and s_b' > s_b), so the
 * sorted vector of scores strictly improves in lexicographic (leximin) order; with finitely many
 * assignments of hosts to experts, moves stop.
 * The margin is the hysteresis: right after a move, moving back would need s_a' < 0.75 s_b, the
 * opposite of what allowed it, and measurement noise below the margin triggers nothing.
 *
 * Concurrent deciders (every host decides alone, on the same view) would all rush to the same
 * needy expert. Three things keep them apart: randomized check intervals (schedule.ts); damping,
 * each host that could fill a gap of `need` replicas moves with probability need / (hosts that
 * could), drawn from the caller's uniform `random`; and the release rule (release.ts), which keeps
 * the old expert served whatever the others do.
 */
import { DEFAULT_REBALANCE_OPTIONS } from './types.ts';
import type { ExpertBalance, RebalanceDecision, RebalanceInput, RebalanceOptions } from './types.ts';
import { demandWeights, effectiveHosts, expertBalances, tieBreak } from './balance.ts';

const EPS = 1e-9;

type MoveOptions = RebalanceOptions & { targetReplicas: number };

/** What this host should do now: stay, join an expert (serves none yet) or move one of its experts. */
export function decideRebalance(input: RebalanceInput): RebalanceDecision {
  const opts: MoveOptions = { ...DEFAULT_REBALANCE_OPTIONS, ...input.options, targetReplicas: Math.max(1, input.targetReplicas) };
  if (input.experts.length === 0) return { type: 'stay' };
  const holders = effectiveHosts(input.hosts, input.self);
  const weights = demandWeights(input.experts, input.demand, opts);
  const balances = expertBalances(input.experts, holders, opts.targetReplicas, weights);
  const mine = input.self.experts.filter((e) => balances.has(e));
  if (mine.length === 0) return decideJoin(input.self.peerId, balances);
  const best = bestMove(input.self.peerId, input.self.experts, balances, opts);
  if (!best) return { type: 'stay' };
  const movers = new Set(input.hosts.filter((h) => h.auto).map((h) => h.peerId)).add(input.self.peerId);
  if ((input.random ?? 0) >= moveProbability(best, holders, movers, balances, opts)) return { type: 'stay' };
  return {
    type: 'move', from: best.from, to: best.to, before: best.before, after: best.after,
    reason: best.toReplicas === 0 ? 'no-live-replica' : 'under-provisioned',
  };
}

/**
 * Whether a move decided earlier is still worth making on a fresh view, checked after the shard is
 * loaded and before the new expert is announced (`input.self` still the experts served before the
 * move). Others may have filled the gap meanwhile; then the mover aborts instead of overshooting.
 */
export function moveStillWorthwhile(input: RebalanceInput, from: string, to: string): boolean {
  const opts: MoveOptions = { ...DEFAULT_REBALANCE_OPTIONS, ...input.options, targetReplicas: Math.max(1, input.targetReplicas) };
  const holders = effectiveHosts(input.hosts, input.self);
  const balances = expertBalances(input.experts, holders, opts.targetReplicas, demandWeights(input.experts, input.demand, opts));
  if (!input.self.experts.includes(from)) return false;
  return bestMove(input.self.peerId, input.self.experts, balances, opts, to, from) !== undefined;
}

/** A newcomer joins the expert with the lowest score; ties broken per host (tieBreak). */
export function decideJoin(peerId: string, balances: ReadonlyMap<string, ExpertBalance>): RebalanceDecision {
  let best: ExpertBalance | undefined;
  for (const b of balances.values()) {
    if (!best || b.score < best.score - EPS ||
      (Math.abs(b.score - best.score) <= EPS && tieBreak(peerId, b.expertId) < tieBreak(peerId, best.expertId))) best = b;
  }
  if (!best) return { type: 'stay' };
  return { type: 'join', expertId: best.expertId, reason: best.replicas === 0 ? 'no-live-replica' : 'neediest', score: best.score };
}

/** `before`: min(s_a, s_b); `after`: min(s_a', s_b'); `sourceAfter`: s_a'. */
interface Candidate { from: string; to: string; before: number; after: number; sourceAfter: number; toReplicas: number }

/** The best move a host serving `served` could make, or undefined when no move is worth it. */
function bestMove(peerId: string, served: readonly string[], balances: ReadonlyMap<string, ExpertBalance>,
  opts: MoveOptions, onlyTo?: string, onlyFrom?: string): Candidate | undefined {
  const share = 1;
  let best: Candidate | undefined;
  for (const from of served) {
    if (onlyFrom !== undefined && from !== onlyFrom) continue;
    const a = balances.get(from);
    if (!a) continue;
    for (const b of balances.values()) {
      if (served.includes(b.expertId) || (onlyTo !== undefined && b.expertId !== onlyTo)) continue;
      const floor = b.replicas === 0 ? opts.minReplicas : Math.max(opts.minReplicas, opts.targetReplicas);
      if (a.replicas - 1 < floor) continue;
      const c = simulate(a, b, share);
      if (!(c.sourceAfter > EPS && c.before < opts.balanceRatio * c.sourceAfter - EPS)) continue;
      if (!best || better(peerId, c, best)) best = c;
    }
  }
  return best;
}

/**
 * Damping: the replicas the target needs (at least 1) over the hosts that may migrate (records with
 * `auto`, this one included) and could make a worthwhile move to it on this view, capped at 1. Expected movers = need, not everyone.
 * An expert with no live replica fails requests until re-hosted, so there the odds are multiplied
 * by `rescueBoost`: a faster rescue is worth a surplus mover, which aborts at its final check.
 */
function moveProbability(move: Candidate, holders: ReadonlyMap<string, readonly string[]>, movers: ReadonlySet<string>,
  balances: ReadonlyMap<string, ExpertBalance>, opts: MoveOptions): number {
  const b = balances.get(move.to)!;
  const need = Math.max(1, Math.ceil(b.want - b.supply - EPS));
  let could = 0;
  for (const [peerId, served] of holders) if (movers.has(peerId) && bestMove(peerId, served, balances, opts, move.to)) could++;
  const boost = b.replicas === 0 ? opts.rescueBoost : 1;
  return Math.min(1, (boost * need) / Math.max(1, could));
}

/** The weaker score of `a` and `b` before and after this host's `share` of capacity moves from a to b. */
function simulate(a: ExpertBalance, b: ExpertBalance, share: number): Candidate {
  const sourceAfter = (a.supply - share) / a.want;
  const after = Math.min(sourceAfter, (b.supply + share) / b.want);
  return { from: a.expertId, to: b.expertId, before: Math.min(a.score, b.score), after, sourceAfter, toReplicas: b.replicas };
}

/** Prefer the neediest target, then the larger gain, then the per-host tie order. */
function better(peerId: string, x: Candidate, y: Candidate): boolean {
  if (x.before < y.before - EPS) return true;
  if (x.before > y.before + EPS) return false;
  if (x.after > y.after + EPS) return true;
  if (x.after < y.after - EPS) return false;
  return tieBreak(peerId, x.from + '>' + x.to) < tieBreak(peerId, y.from + '>' + y.to);
}
