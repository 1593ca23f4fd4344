/**
 * Types of the rebalancing decisions (issue 5): which expert an `--auto` host joins, when a host
 * moves from an over-provisioned expert to an under-provisioned one, and when a migrating host may
 * let go of the expert it served before. Types only; the logic is in the pure functions of this folder.
 */
import type { HostRecord } from '../../shared/transport-types.ts';

/** This host as the decision sees it: the experts it serves now (its own truth, not its DHT record). */
export interface SelfView {
  peerId: string;
  experts: readonly string[];
}

/** Knobs of the decision, all with defaults (DEFAULT_REBALANCE_OPTIONS). */
export interface RebalanceOptions {
  /**
   * Hysteresis, as Petals' `balance_quality`: a move from `a` to `b` happens only when
   * `min(s_a, s_b) < balanceRatio * s_a'`, the target clearly needier than the source will be
   * after the move (scores, see ExpertBalance; decide.ts).
   */
  balanceRatio: number;
  /** Replicas an expert keeps whatever happens: no host leaves an expert with fewer. */
  minReplicas: number;
  /** Bounds of an expert's demand weight (its demand over the mean demand); 1 keeps `target` as a floor. */
  minWeight: number;
  maxWeight: number;
  /** Damping multiplier for moves to an expert with no live replica (decide.ts). */
  rescueBoost: number;
}

export const DEFAULT_REBALANCE_OPTIONS: Readonly<RebalanceOptions> = Object.freeze({
  balanceRatio: 0.75,
  minReplicas: 1,
  minWeight: 1,
  maxWeight: 4,
  rescueBoost: 2,
});

/** Everything a decision reads. No I/O behind any of it. */
export interface RebalanceInput {
  /** Every expert id of the model (manifest order). Records naming other ids are ignored. */
  experts: readonly string[];
  /** Host records of this model from the DHT; only ONLINE ones count. Self's record, if present, is replaced by `self`. */
  hosts: readonly HostRecord[];
  self: SelfView;
  /** Replicas every expert should have at equal demand (>= 1). */
  targetReplicas: number;
  /** Measured demand per expert in load units (demand.ts), >= 0; a missing expert counts 0. */
  demand: ReadonlyMap<string, number>;
  /**
   * A uniform draw in [0, 1) for damping (decide.ts): a worthwhile move happens when
   * `random < need / hosts that could make it`. Absent: 0, the move always happens.
   */
  random?: number;
  options?: Partial<RebalanceOptions>;
}

/** One expert's supply and need, the numbers every decision is made from. */
export interface ExpertBalance {
  expertId: string;
  /** ONLINE hosts serving it (self included when it serves it). */
  replicas: number;
  /** Serving capacity: each host serving it counts 1 (= replicas; kept apart should hosts get weights). */
  supply: number;
  /** Replicas it should have: `targetReplicas * weight`, weight from demand, clamped. */
  want: number;
  /** supply / want: below 1 under-provisioned, 0 when nobody serves it. Lower is needier. */
  score: number;
}

export type MoveReason = 'no-live-replica' | 'under-provisioned';
export type JoinReason = 'no-live-replica' | 'neediest';

/** What a host should do now. */
export type RebalanceDecision =
  | { type: 'stay' }
  | { type: 'join'; expertId: string; reason: JoinReason; score: number }
  | {
    type: 'move'; from: string; to: string; reason: MoveReason;
    /** The weaker score of the two experts before and after the simulated move (before < after). */
    before: number; after: number;
  };

/** Whether a migrating host may stop serving an expert now. */
export type ReleaseDecision =
  | { type: 'release'; remaining: number }
  | { type: 'hold'; remaining: number; reason: 'would-drop-below-min' };
