/**
 * A log-scale histogram of latencies (ms) for the dashboard's percentiles: bounded memory whatever
 * the request rate, mergeable across time buckets. Bin `i` holds values in
 * (FLOOR_MS·GROWTH^(i-1), FLOOR_MS·GROWTH^i]; a percentile is its bin's upper bound clamped to the
 * smallest and largest value seen, so it lies between the exact nearest-rank value and 5 % above it
 * (below 1 ms: at most 1 ms), and is exact when every value is equal (e.g. one request).
 */

/** Values at or below this (ms) share bin 0. */
const FLOOR_MS = 1;
/** Ratio between two bin bounds: the relative precision of a percentile. */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);

export class LatencyHistogram {
  /** Count per bin index (sparse: a few dozen bins at most in practice). */
  readonly #bins = new Map<number, number>();
  #count = 0;
  #min = Infinity;
  #max = -Infinity;

  get count(): number {
    return this.#count;
  }

  /** Adds one latency, ms (negative or non-finite values are ignored). */
  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const i = ms <= FLOOR_MS ? 0 : Math.ceil(Math.log(ms / FLOOR_MS) / LOG_GROWTH);
    this.#bins.set(i, (this.#bins.get(i) ?? 0) + 1);
    this.#count++;
    this.#min = Math.min(this.#min, ms);
    this.#max = Math.max(this.#max, ms);
  }

  /** Adds every value of `other` to this one. */
  merge(other: LatencyHistogram): void {
    for (const [i, n] of other.#bins) this.#bins.set(i, (this.#bins.get(i) ?? 0) + n);
    this.#count += other.#count;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }

  /** The `q` quantile (0 < q <= 1, nearest rank), ms; null when empty. */
  quantile(q: number): number | null {
    if (this.#count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (const i of [...this.#bins.keys()].sort((a, b) => a - b)) {
      seen += this.#bins.get(i) as number;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, FLOOR_MS * GROWTH ** i));
    }
    return this.#max;
  }
}
