/**
 * Randomized check intervals, so that hosts that started together do not all look at the same view
 * of the swarm and move at the same moment (a stampede). A check runs every
 * `intervalMs * (1 ± jitter)` (uniform), the next one timed from the end of the previous, never two
 * at once. The delay is a pure function; the scheduler is a small lifecycle around timers.
 */
import { realTimers, type Timers } from '../../shared/timers.ts';

/** The delay before the next check: `intervalMs * (1 - jitter + 2 * jitter * u)` for u in [0, 1). */
export function jitteredDelayMs(intervalMs: number, jitter: number, u: number): number {
  const j = Math.min(1, Math.max(0, jitter));
  const uu = Math.min(1, Math.max(0, u));
  return Math.max(0, intervalMs * (1 - j + 2 * j * uu));
}

export type { Timers } from '../../shared/timers.ts';

export interface ScheduleInit {
  /** Mean time between checks, ms. */
  intervalMs: number;
  /** Multiplies intervalMs for the next delay (read after each check; default 1). */
  scale?: () => number;
  /** Relative spread of the interval, in [0, 1] (default 0.5). */
  jitter?: number;
  /** Delay of the first check, ms (default: a jittered interval). Newcomers use a short one. */
  firstDelayMs?: number;
  /** Uniform [0, 1) source (default Math.random). */
  random?: () => number;
  timers?: Timers;
  /** Called when a check throws; the schedule goes on. */
  onError?: (err: unknown) => void;
}

export interface JitteredSchedule {
  start(): void;
  /** Stops scheduling and waits for a check in progress. */
  stop(): Promise<void>;
  /** Runs a check now and re-times the next one; when one is in progress, waits for it instead. */
  runNow(): Promise<void>;
  readonly running: boolean;
}


/** Runs `check` at jittered intervals between start() and stop(), one at a time. */
export function jitteredSchedule(init: ScheduleInit, check: () => Promise<void> | void): JitteredSchedule {
  const random = init.random ?? Math.random;
  const timers = init.timers ?? realTimers;
  const jitter = init.jitter ?? 0.5;
  let handle: unknown;
  let started = false;
  let inFlight: Promise<void> | undefined;

  const arm = (ms: number) => {
    if (handle !== undefined) timers.clearTimeout(handle);
    handle = timers.setTimeout(() => { handle = undefined; void tick(); }, ms);
  };
  const tick = async (): Promise<void> => {
    if (!started) return;
    if (inFlight) { await inFlight; return; }
    inFlight = (async () => {
      try { await check(); } catch (err) { init.onError?.(err); }
    })();
    try { await inFlight; } finally { inFlight = undefined; }
    if (started) arm(jitteredDelayMs(init.intervalMs * Math.max(1, init.scale?.() ?? 1), jitter, random()));
  };

  return {
    start() {
      if (started) return;
      started = true;
      arm(init.firstDelayMs ?? jitteredDelayMs(init.intervalMs, jitter, random()));
    },
    async stop() {
      started = false;
      if (handle !== undefined) { timers.clearTimeout(handle); handle = undefined; }
      if (inFlight) await inFlight;
    },
    async runNow() {
      if (handle !== undefined) { timers.clearTimeout(handle); handle = undefined; }
      await tick();
    },
    get running() { return started; },
  };
}
