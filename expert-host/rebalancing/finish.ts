/**
 * The last step of a move, decided on a fresh view while the host serves both its old expert
 * (`from`) and its new one (`to`). Pure.
 *
 * - If the move is no longer worth making (others filled the gap while this host fetched and
 *   settled), give the new expert back, provided `to` keeps its replicas: `abort`.
 * - Else let go of the old expert when the release rule allows (release.ts): `release`.
 * - Else serve both for now and ask again later: `hold` (an expert this host is the last one of is
 *   never dropped; serving two experts is the safe state).
 */
import { moveStillWorthwhile } from './decide.ts';
import { decideRelease } from './release.ts';
import type { RebalanceInput } from './types.ts';

export type FinishDecision =
  | { type: 'release'; expertId: string }
  | { type: 'abort'; expertId: string }
  | { type: 'hold' };

export interface FinishInput extends Omit<RebalanceInput, 'self' | 'random'> {
  selfPeerId: string;
  /** What the host serves now, `from` and `to` included. */
  serving: readonly string[];
  from: string;
  to: string;
}

export function decideFinish(input: FinishInput): FinishDecision {
  const minReplicas = input.options?.minReplicas ?? 1;
  const before = { peerId: input.selfPeerId, experts: input.serving.filter((e) => e !== input.to) };
  const worthwhile = moveStillWorthwhile({ ...input, self: before }, input.from, input.to);
  if (!worthwhile) {
    const giveBack = decideRelease({ hosts: input.hosts, selfPeerId: input.selfPeerId, expertId: input.to, minReplicas });
    if (giveBack.type === 'release') return { type: 'abort', expertId: input.to };
  }
  const release = decideRelease({ hosts: input.hosts, selfPeerId: input.selfPeerId, expertId: input.from, minReplicas });
  return release.type === 'release' ? { type: 'release', expertId: input.from } : { type: 'hold' };
}
