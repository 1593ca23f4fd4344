/**
 * Waits until a router's GET /readyz answers 200 (every expert has a replica the router verified),
 * polling every `intervalMs`, never past `deadlineMs`. /readyz needs no API key (router/http/auth.ts
 * guards /v1/* only), so none is sent. Resolves with the number of polls; rejects with the last
 * answer (status and body, or the fetch error) when the deadline passes, or CANCELLED on `signal`.
 */
import { sleep } from '../sleep.ts';

export interface WaitReadyzInit {
  /** Base URL of the router, e.g. `http://127.0.0.1:8080`. */
  http: string;
  /** Absolute deadline, ms since the epoch. */
  deadlineMs: number;
  /** Pause between polls, ms (default 250). */
  intervalMs?: number;
  signal?: AbortSignal;
}

export async function waitReadyz(init: WaitReadyzInit): Promise<number> {
  const interval = init.intervalMs ?? 250;
  let last = 'no answer yet';
  for (let polls = 1; ; polls++) {
    const left = init.deadlineMs - Date.now();
    if (left <= 0) throw new Error(`the router at ${init.http} is not ready (GET /readyz: ${last})`);
    try {
      const signals = [AbortSignal.timeout(Math.min(left, 5000)), ...(init.signal ? [init.signal] : [])];
      const r = await fetch(`${init.http}/readyz`, { signal: AbortSignal.any(signals) });
      last = `${r.status} ${(await r.text()).slice(0, 300)}`;
      if (r.status === 200) return polls;
    } catch (err) {
      if (init.signal?.aborted) throw err;
      // A poll cut short by the deadline says less than the router's last answer: keep that one.
      const cutShort = err instanceof Error && err.name === 'TimeoutError' && Date.now() >= init.deadlineMs;
      if (!cutShort || polls === 1) last = err instanceof Error ? err.message : String(err);
    }
    await sleep(Math.min(interval, Math.max(0, init.deadlineMs - Date.now())), init.signal);
  }
}
