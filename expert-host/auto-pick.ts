/**
 * Which expert an `--auto` host serves when it starts: a pure decision, replaceable by real
 * rebalancing. For now, the expert with the fewest live replicas; ties are broken by the host's peer
 * id, so auto hosts starting together spread over the tied experts instead of piling on one.
 */

export type AutoPick = { type: 'ok'; expertId: string; replicas: number } | { type: 'none'; reason: string };

/** Picks from `experts` (model order) given live replica counts (missing = 0). */
export function pickAutoExpert(experts: readonly string[], replicas: ReadonlyMap<string, number>, peerId: string): AutoPick {
  if (experts.length === 0) return { type: 'none', reason: 'the model has no experts' };
  let min = Infinity;
  for (const e of experts) min = Math.min(min, replicas.get(e) ?? 0);
  const tied = experts.filter((e) => (replicas.get(e) ?? 0) === min);
  return { type: 'ok', expertId: tied[fnv1a(peerId) % tied.length], replicas: min };
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h;
}
