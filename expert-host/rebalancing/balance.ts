/**
 * The swarm's supply and need per expert, computed from host records and measured demand: the one
 * view every rebalancing decision reads. Pure.
 *
 * - supply: the ONLINE hosts serving the expert, each counting 1 for every expert it serves. A host
 *   that migrates announces its old and new expert together for a moment, and must not look like
 *   half a replica of the new one then (others would rush in after it). Self-reported throughput is
 *   advisory (SPEC), so hosts are not weighted by it; demand enters through `want` instead.
 * - want: `targetReplicas * weight`, with weight = demand / mean demand, clamped to
 *   [minWeight, maxWeight] (1 when nothing is measured). With minWeight 1 the target is a floor:
 *   demand only ever asks for more replicas, never fewer.
 * - score: supply / want. The neediest expert has the lowest score; an expert nobody serves has 0.
 */
import type { HostRecord } from '../../shared/transport-types.ts';
import type { ExpertBalance, RebalanceOptions, SelfView } from './types.ts';

/** ONLINE records, keyed by peer id, with self's record replaced by what self really serves. */
export function effectiveHosts(hosts: readonly HostRecord[], self: SelfView | undefined): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const h of hosts) {
    if (h.state !== 'ONLINE' || h.peerId === self?.peerId) continue;
    out.set(h.peerId, h.experts);
  }
  if (self && self.experts.length > 0) out.set(self.peerId, self.experts);
  return out;
}

/** Demand weights per expert: demand over mean demand, clamped; all 1 when no demand was measured. */
export function demandWeights(experts: readonly string[], demand: ReadonlyMap<string, number>,
  opts: Pick<RebalanceOptions, 'minWeight' | 'maxWeight'>): Map<string, number> {
  const values = experts.map((e) => Math.max(0, finiteOr0(demand.get(e))));
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const out = new Map<string, number>();
  experts.forEach((e, i) => {
    const w = mean > 0 ? values[i] / mean : 1;
    out.set(e, Math.min(opts.maxWeight, Math.max(opts.minWeight, w)));
  });
  return out;
}

/** Supply, want and score of every expert of the model. */
export function expertBalances(experts: readonly string[], holders: ReadonlyMap<string, readonly string[]>,
  targetReplicas: number, weights: ReadonlyMap<string, number>): Map<string, ExpertBalance> {
  const known = new Set(experts);
  const out = new Map<string, ExpertBalance>();
  for (const e of experts) {
    const want = Math.max(1e-9, targetReplicas * (weights.get(e) ?? 1));
    out.set(e, { expertId: e, replicas: 0, supply: 0, want, score: 0 });
  }
  for (const served of holders.values()) {
    const mine = served.filter((e) => known.has(e));
    if (mine.length === 0) continue;
    for (const e of new Set(mine)) {
      const b = out.get(e)!;
      b.replicas += 1;
      b.supply += 1;
    }
  }
  for (const b of out.values()) b.score = b.supply / b.want;
  return out;
}

/**
 * A stable per-host order of experts for breaking ties, so that newcomers deciding at the same
 * moment on the same view spread over equally needy experts instead of all picking the first.
 */
export function tieBreak(peerId: string, expertId: string): number {
  let h = 0x811c9dc5;
  const s = peerId + '\u0000' + expertId;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function finiteOr0(x: number | undefined): number {
  return x !== undefined && Number.isFinite(x) ? x : 0;
}
