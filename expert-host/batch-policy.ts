/**
 * When a queue of expert calls should run: a pure decision. A batch runs at once when the expert is
 * free and either the batch is full, waiting is disabled, or no other session could join (an idle
 * host never waits); otherwise it waits for company at most `maxWaitMs` after the oldest call arrived.
 */

export interface FlushState {
  /** Calls queued (not running). */
  queued: number;
  /** Rows queued. */
  queuedRows: number;
  /** Whether a batch of this expert is running now. */
  running: boolean;
  /** ms the oldest queued call has waited. */
  oldestWaitMs: number;
  /** Open sessions of this expert that have no call queued (they might send one soon). */
  idleSessions: number;
  maxRows: number;
  maxWaitMs: number;
}

export type FlushDecision = { type: 'run' } | { type: 'wait'; ms: number } | { type: 'none' };

/** Decides whether to run a batch now, wait `ms` for company, or do nothing (empty or busy). */
export function decideFlush(s: FlushState): FlushDecision {
  if (s.queued === 0 || s.running) return { type: 'none' };
  if (s.queuedRows >= s.maxRows || s.maxWaitMs <= 0 || s.idleSessions <= 0) return { type: 'run' };
  if (s.oldestWaitMs >= s.maxWaitMs) return { type: 'run' };
  return { type: 'wait', ms: s.maxWaitMs - s.oldestWaitMs };
}
