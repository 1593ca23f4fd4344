/**
 * Whether a migrating host may stop serving the expert it is leaving. Pure.
 *
 * A move adds the new expert first and lets go of the old one only afterwards, so at the moment of
 * release every host that is leaving an expert still lists it, together with its new one. Two such
 * hosts could each count the other and both leave, emptying the expert. The rule that prevents it:
 * a host counts as *remaining* on the expert only when it cannot be releasing it at the same time:
 * its record says it never migrates (`auto` false: a host pinned with --no-rebalance), or it serves
 * that expert alone, or it orders after this host by peer id. Among several hosts leaving at once
 * the last in peer-id order therefore always stays.
 *
 * Staleness: the rule is safe when the view is no older than L and the host decides at least
 * S >= 2L after announcing its new expert (the migrator's settle wait). If X releases on a view
 * where another leaver Y still looked single, Y announced after X's view was taken, so Y decides
 * at least S - L >= L after X released and sees the release. (The guarantee holds for records no staler than a migration; the
 * migrator reads fresh records right before it releases.)
 */
import type { HostRecord } from '../../shared/transport-types.ts';
import type { ReleaseDecision } from './types.ts';

export interface ReleaseInput {
  /** Host records of the model from the DHT (read fresh); self's own record is ignored. */
  hosts: readonly HostRecord[];
  selfPeerId: string;
  /** The expert this host wants to stop serving. */
  expertId: string;
  /** Replicas that must remain (>= 1). */
  minReplicas: number;
}

/** `release` when at least `minReplicas` other hosts will certainly keep serving `expertId`. */
export function decideRelease(input: ReleaseInput): ReleaseDecision {
  let remaining = 0;
  for (const h of input.hosts) {
    if (h.peerId === input.selfPeerId || h.state !== 'ONLINE' || !h.experts.includes(input.expertId)) continue;
    const cannotBeLeaving = !h.auto || h.experts.length === 1 || h.peerId > input.selfPeerId;
    if (cannotBeLeaving) remaining++;
  }
  return remaining >= Math.max(1, input.minReplicas)
    ? { type: 'release', remaining }
    : { type: 'hold', remaining, reason: 'would-drop-below-min' };
}
