/**
 * The `n` choices of one request: independent generation sessions run at once, each with its own
 * seed derived from the request's. Choice 0 keeps the request's seed, so `n: 1` and choice 0 of any
 * `n` give the text a single-choice request with that seed gives.
 */
import { mulberry32 } from '../../shared/model/rng.ts';

/** The seed of choice `index`: the request's for 0, else a uint32 mixed from (seed, index). Deterministic. */
export function choiceSeed(seed: number, index: number): number {
  if (index === 0) return seed;
  return (mulberry32((seed + Math.imul(index, 0x9e3779b9)) >>> 0)() * 2 ** 32) >>> 0;
}

/**
 * Runs `run(0..n-1)` at once under one AbortSignal that follows `signal`. The first failure aborts
 * the others; the promise settles only once every choice has stopped, resolving the results in index
 * order or rejecting with that first failure (not the cancellations it caused).
 */
export async function runChoices<T>(n: number, signal: AbortSignal,
  run: (index: number, signal: AbortSignal) => Promise<T>): Promise<T[]> {
  const ctl = new AbortController();
  const follow = () => ctl.abort(signal.reason);
  if (signal.aborted) ctl.abort(signal.reason);
  else signal.addEventListener('abort', follow, { once: true });
  let failure: { err: unknown } | undefined;
  try {
    const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => Promise.resolve()
      .then(() => run(i, ctl.signal))
      .catch((err: unknown) => {
        failure ??= { err };
        ctl.abort();
        throw err;
      })));
    if (failure) throw failure.err;
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  } finally {
    signal.removeEventListener('abort', follow);
  }
}
