/**
 * Tokens per second over a sliding window (default one minute), in one-second buckets. Advisory:
 * published in Info and the DHT record; routers trust their own measurements.
 */

export interface ThroughputMeter {
  /** Records `tokens` processed now. */
  add(tokens: number): void;
  /** Tokens per second over the window (over the time since start when younger than the window). */
  rate(): number;
}

/** A meter over `windowS` seconds on `clock` (ms). */
export function createThroughputMeter(windowS = 60, clock: () => number = Date.now): ThroughputMeter {
  const buckets = new Float64Array(windowS);
  const stamps = new Float64Array(windowS).fill(-1);
  const started = clock();
  return {
    add(tokens) {
      const sec = Math.floor(clock() / 1000);
      const i = sec % windowS;
      if (stamps[i] !== sec) { stamps[i] = sec; buckets[i] = 0; }
      buckets[i] += tokens;
    },
    rate() {
      const now = clock();
      const sec = Math.floor(now / 1000);
      let sum = 0;
      for (let i = 0; i < windowS; i++) if (stamps[i] > sec - windowS) sum += buckets[i];
      const span = Math.min(windowS, Math.max(1, (now - started) / 1000));
      return sum / span;
    },
  };
}
