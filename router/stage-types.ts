/**
 * The shapes a stage session is built from and reports through (router/stage-session.ts), apart
 * from its logic.
 */
import type { Logger } from '../shared/log.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import type { ReplicaPool } from './replica-pool.ts';

export interface StageTimeouts {
  /** Opening a session on a host, ms (default 5000). */
  openTimeoutMs?: number;
  /** One step, ms, plus `perPositionMs` per position sent (defaults 10000 and 2). */
  stepTimeoutMs?: number;
  perPositionMs?: number;
  /** Tries of one step across replicas before giving up (default 4). */
  maxAttempts?: number;
}

export interface StageSessionInit extends StageTimeouts {
  expertId: string;
  /** Positions the session reserves on a host (prompt + max new tokens). */
  maxLength: number;
  dModel: number;
  wireDtype?: WireDtype;
  /** For host logs and traces. */
  clientSessionId?: string;
  /** Open sessions that take pushed inputs (chained steps). */
  chain?: boolean;
}

/** Hooks for metrics and logs; all optional. */
export interface StageEvents {
  /** A session moved to another replica and went on there (reason: the error code that moved it). */
  onFailover?(expertId: string, reason: string): void;
  /** A failed stage call is about to be tried again, on another replica where one is left. */
  onRetry?(expertId: string, reason: string): void;
  /** One successful stage call and its duration. */
  onCall?(expertId: string, kind: 'prefill' | 'decode', seconds: number): void;
}

export interface StageSessionComponents {
  pool: ReplicaPool;
  clock?: () => number;
  log: Logger;
  events?: StageEvents;
}

export interface StepOpts {
  signal?: AbortSignal;
  /** Absolute deadline of the whole request, ms since the epoch. */
  deadlineMs: number;
}
