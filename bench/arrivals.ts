/**
 * Arrival schedules of the load scenarios (loadtest/scenarios.json), as pure functions: when each
 * request of an open-model load starts. The same shapes drive the k6 scripts (ramping- and
 * constant-arrival-rate executors) and the Node harness (load-harness.ts).
 */

export interface Stage {
  /** Arrival rate at the end of the stage, requests per second. */
  target: number;
  durationS: number;
}

export type Shape =
  | { kind: 'iterations'; iterations: number; maxInflight: number }
  | { kind: 'ramping'; startRate: number; stages: Stage[]; maxInflight: number }
  | { kind: 'constant'; rate: number; durationS: number; maxInflight: number };

/** Total seconds a shape lasts (iterations: undefined, they run back to back). */
export function shapeDurationS(shape: Shape): number | undefined {
  if (shape.kind === 'iterations') return undefined;
  if (shape.kind === 'constant') return shape.durationS;
  return shape.stages.reduce((s, st) => s + st.durationS, 0);
}

/**
 * Start offsets in ms of the requests of an arrival-rate shape, ascending: the k-th request starts
 * when the integral of the (piecewise-linear) rate reaches k (k = 0, 1, … while k is below the
 * integral over the whole schedule), so a non-zero schedule starts at 0, like k6's executors.
 * `rateScale` multiplies every rate; `maxRequests` and `maxDurationS` cut the schedule short.
 * For `iterations` shapes the schedule is `iterations` zeros (run back to back, one at a time).
 */
export function arrivalOffsetsMs(shape: Shape, opts: { rateScale?: number; maxRequests?: number; maxDurationS?: number } = {}): number[] {
  const max = opts.maxRequests ?? Infinity;
  if (shape.kind === 'iterations') return new Array<number>(Math.min(shape.iterations, max)).fill(0);
  const scale = opts.rateScale ?? 1;
  const segments = shape.kind === 'constant'
    ? [{ r0: shape.rate, r1: shape.rate, d: shape.durationS }]
    : shape.stages.map((st, i) => ({ r0: i === 0 ? shape.startRate : shape.stages[i - 1].target, r1: st.target, d: st.durationS }));
  const endS = Math.min(segments.reduce((s, x) => s + x.d, 0), opts.maxDurationS ?? Infinity);
  // Arrivals integrated over the (cut) schedule: arrival k exists only while k < total.
  let total = 0, tc = 0;
  for (const { r0, r1, d } of segments) {
    const span = Math.max(0, Math.min(d, endS - tc));
    total += r0 * scale * span + (r1 - r0) * scale * span * span / (2 * d);
    tc += d;
  }
  const out: number[] = [];
  let t0 = 0;
  let done = 0; // arrivals integrated before this segment (fractional)
  for (const { r0, r1, d } of segments) {
    if (t0 >= endS || out.length >= max) break;
    const a = r0 * scale, b = r1 * scale;
    // N(t) = done + a t + (b - a) t^2 / (2 d); the next arrival k = out.length at N(t) = k.
    const segEnd = Math.min(d, endS - t0);
    for (;;) {
      const need = out.length - done;
      const t = solveArrival(a, b, d, need);
      if (t === undefined || t >= segEnd - 1e-9 || out.length >= max || out.length >= total - 1e-9) break;
      out.push(Math.round((t0 + t) * 1e6) / 1e3);
    }
    done += a * d + (b - a) * d / 2;
    t0 += d;
  }
  return out;
}

/** Smallest t >= 0 with a t + (b - a) t^2 / (2 d) = need, or undefined when none. */
function solveArrival(a: number, b: number, d: number, need: number): number | undefined {
  if (need <= 0) return 0;
  const k = (b - a) / (2 * d);
  if (Math.abs(k) < 1e-12) return a > 0 ? need / a : undefined;
  const disc = a * a + 4 * k * need;
  if (disc < 0) return undefined;
  const t = (-a + Math.sqrt(disc)) / (2 * k);
  return t >= 0 ? t : undefined;
}

/** The value at quantile q (0..1) of `sorted` (ascending), nearest rank; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** The median of unsorted values; NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile([...values].sort((x, y) => x - y), 0.5);
}
