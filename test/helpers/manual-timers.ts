/**
 * Timers and a clock driven by hand (shared/timers.ts `Timers`): `advance(ms)` fires every timer due
 * within `ms`, in time order, moving `now` to each, and lets the promise chains each one started
 * settle before the next fires. For tests of parts that take `timers` and `clock` components.
 */
import type { Timers } from '../../shared/timers.ts';

export interface ManualTimers {
  readonly timers: Timers;
  /** The manual clock, ms. */
  readonly clock: () => number;
  readonly now: number;
  /** Timers armed and not yet fired. */
  readonly pending: number;
  advance(ms: number): Promise<void>;
  /** Lets promise chains already started settle (no time passes). */
  settle(): Promise<void>;
}

/** Turns of the event loop `settle()` gives pending promise chains (signing, fake DHT calls). */
const SETTLE_TURNS = 20;

export function manualTimers(start = 0): ManualTimers {
  let now = start;
  let id = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  const settle = async () => { for (let i = 0; i < SETTLE_TURNS; i++) await new Promise<void>((r) => setImmediate(r)); };
  return {
    timers: {
      setTimeout(fn, ms) { due.set(++id, { at: now + Math.max(0, ms), fn }); return id; },
      clearTimeout(h) { due.delete(h as number); },
    },
    clock: () => now,
    get now() { return now; },
    get pending() { return due.size; },
    settle,
    async advance(ms: number) {
      const end = now + ms;
      await settle();
      for (;;) {
        const next = [...due.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!next) break;
        due.delete(next[0]);
        now = next[1].at;
        next[1].fn();
        await settle();
      }
      now = end;
    },
  };
}
