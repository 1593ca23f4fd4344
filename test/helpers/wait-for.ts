/**
 * The one polling wait of the tests: for a condition that no event announces (a child process's log
 * line, a remote record, an HTTP status). Where the code under test takes timers or emits an event,
 * drive the timers (manual-timers.ts) or await the event instead of polling.
 *
 * Runs on real timers: do not call it while `vi.useFakeTimers()` fakes `setTimeout` and `Date`.
 */
import { inspect } from 'node:util';

export interface WaitForOptions {
  /** Gives up after this long, ms (default 10 s). */
  timeoutMs?: number;
  /** Pause between two probes, ms (default 20). */
  intervalMs?: number;
}

/** What a probe returns while the condition does not hold yet. */
type NotYet = undefined | null | false;

/**
 * Calls `probe` until it returns something other than `undefined`, `null` or `false`, and resolves
 * with that value (a boolean probe resolves `true`). The first probe runs at once. A probe that
 * throws ends the wait with its error. After `timeoutMs` it rejects with an error naming `what`
 * (a function is called then, to describe the state at that moment) and the probe's last answer.
 */
export async function waitFor<T>(what: string | (() => string), probe: () => T | Promise<T>, opts: WaitForOptions = {}): Promise<Exclude<T, NotYet>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 20;
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v as Exclude<T, NotYet>;
    const waited = Date.now() - start;
    if (waited >= timeoutMs) {
      const label = typeof what === 'function' ? what() : what;
      throw new Error(`waitFor: gave up after ${waited} ms (limit ${timeoutMs} ms) waiting for ${label}; the probe last returned ${inspect(v)}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, timeoutMs - waited)));
  }
}
