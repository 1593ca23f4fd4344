/**
 * The router's own measure of a replica's speed, as in SWARM: a bias-corrected exponential moving
 * average of seconds per unit of work over whole calls (network and queueing included). Never
 * self-reported by the host. Pure: the caller hands in the measurements.
 */

/** Default smoothing factor (SWARM uses 0.1). */
export const DEFAULT_EMA_ALPHA = 0.1;

export class ThroughputEma {
  readonly alpha: number;
  #ema = 0;
  #samples = 0;

  constructor(alpha = DEFAULT_EMA_ALPHA) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1]; got ${alpha}`);
    this.alpha = alpha;
  }

  /** Number of measurements so far. */
  get samples(): number {
    return this.#samples;
  }

  /** Records one call that did `work` units (> 0) in `seconds` (>= 0). Other inputs are ignored. */
  update(work: number, seconds: number): void {
    if (!(work > 0) || !(seconds >= 0) || !Number.isFinite(seconds)) return;
    const perUnit = Math.max(seconds, 1e-6) / work;
    this.#ema = this.alpha * perUnit + (1 - this.alpha) * this.#ema;
    this.#samples++;
  }

  /** Bias-corrected seconds per unit of work, or undefined before the first measurement. */
  secondsPerUnit(): number | undefined {
    if (this.#samples === 0) return undefined;
    return this.#ema / (1 - Math.pow(1 - this.alpha, this.#samples));
  }

  /** Units of work per second, or undefined before the first measurement. */
  throughput(): number | undefined {
    const s = this.secondsPerUnit();
    return s === undefined ? undefined : 1 / s;
  }
}
