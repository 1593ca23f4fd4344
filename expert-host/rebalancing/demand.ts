/**
 * Measured demand per expert, in load units: tokens per second served plus a weight for work
 * queued. Read from the hosts' DHT records (throughput, queueDepth, split evenly over the experts a
 * host serves) and, for this host, from its own per-expert counters, which are fresher and exact.
 * Smoothed across checks with an EMA so that one busy second does not move hosts. Pure.
 */
import type { HostRecord } from '../../shared/transport-types.ts';

/** This host's own counters for one expert over the last measurement window. */
export interface OwnExpertLoad {
  /** Tokens per second this host computed for the expert. */
  tokensPerS: number;
  /** Steps of the expert waiting or running now. */
  queueDepth: number;
}

export interface DemandOptions {
  /** Load units one queued step adds (default 1: a waiting step counts as one token per second). */
  queueWeight?: number;
  /** This host's peer id and counters; they replace its record's share. */
  own?: { peerId: string; perExpert: ReadonlyMap<string, OwnExpertLoad> };
}

/** Demand per expert of `experts` (0 for those nobody reported), from ONLINE records and own counters. */
export function measureDemand(experts: readonly string[], hosts: readonly HostRecord[],
  opts: DemandOptions = {}): Map<string, number> {
  const qw = opts.queueWeight ?? 1;
  const out = new Map<string, number>(experts.map((e) => [e, 0]));
  for (const h of hosts) {
    if (h.state !== 'ONLINE' || h.peerId === opts.own?.peerId || h.experts.length === 0) continue;
    const load = (nonNeg(h.throughput) + qw * nonNeg(h.queueDepth)) / h.experts.length;
    for (const e of h.experts) if (out.has(e)) out.set(e, out.get(e)! + load);
  }
  for (const [e, l] of opts.own?.perExpert ?? []) {
    if (out.has(e)) out.set(e, out.get(e)! + nonNeg(l.tokensPerS) + qw * nonNeg(l.queueDepth));
  }
  return out;
}

/** Exponential moving average of demand maps: `alpha * next + (1 - alpha) * prev` per expert. */
export function smoothDemand(prev: ReadonlyMap<string, number> | undefined, next: ReadonlyMap<string, number>,
  alpha = 0.3): Map<string, number> {
  const out = new Map<string, number>();
  for (const [e, v] of next) {
    const p = prev?.get(e);
    out.set(e, p === undefined ? v : alpha * v + (1 - alpha) * p);
  }
  return out;
}

function nonNeg(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}
