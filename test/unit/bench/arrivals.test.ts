import { test } from 'vitest';
import assert from 'node:assert/strict';
import { arrivalOffsetsMs, quantile, median, shapeDurationS } from '../../../bench/arrivals.ts';

test('a constant rate spaces arrivals evenly, starting at 0', () => {
  const t = arrivalOffsetsMs({ kind: 'constant', rate: 4, durationS: 2, maxInflight: 8 });
  assert.deepEqual(t, [0, 250, 500, 750, 1000, 1250, 1500, 1750]);
});

test('a linear ramp from 0 to r over d seconds sends r*d/2 requests, denser at the end', () => {
  const t = arrivalOffsetsMs({ kind: 'ramping', startRate: 0, stages: [{ target: 10, durationS: 4 }], maxInflight: 8 });
  assert.equal(t.length, 20);
  for (let k = 1; k < t.length; k++) assert.ok(t[k] > t[k - 1]);
  // N(t) = 10 t^2 / 8 => the k-th arrival at sqrt(0.8 k) s.
  for (let k = 0; k < t.length; k++) assert.ok(Math.abs(t[k] - Math.sqrt(0.8 * k) * 1000) < 0.01, `arrival ${k} at ${t[k]}`);
  const gaps = t.slice(1).map((x, k) => x - t[k]);
  assert.ok(gaps[gaps.length - 1] < gaps[1]);
});

test('stages chain: ramp up, hold, ramp down; counts follow the integral of the rate', () => {
  const shape = { kind: 'ramping' as const, startRate: 2, stages: [{ target: 6, durationS: 2 }, { target: 6, durationS: 3 }, { target: 0, durationS: 2 }], maxInflight: 8 };
  const t = arrivalOffsetsMs(shape);
  // (2+6)/2*2 + 6*3 + 6/2*2 = 8 + 18 + 6 = 32
  assert.equal(t.length, 32);
  assert.equal(shapeDurationS(shape), 7);
  assert.ok(t[t.length - 1] < 7000);
  assert.equal(t.filter((x) => x >= 2000 && x < 5000).length, 18);
});

test('rate scale, request and duration caps', () => {
  const c = { kind: 'constant' as const, rate: 2, durationS: 10, maxInflight: 8 };
  assert.equal(arrivalOffsetsMs(c, { rateScale: 3 }).length, 60);
  assert.equal(arrivalOffsetsMs(c, { maxRequests: 5 }).length, 5);
  assert.deepEqual(arrivalOffsetsMs(c, { maxDurationS: 1.6 }), [0, 500, 1000, 1500]);
  assert.deepEqual(arrivalOffsetsMs({ kind: 'iterations', iterations: 3, maxInflight: 1 }), [0, 0, 0]);
  assert.deepEqual(arrivalOffsetsMs({ kind: 'ramping', startRate: 0, stages: [{ target: 0, durationS: 5 }], maxInflight: 1 }), []);
});

test('quantiles are nearest-rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 1), 100);
  assert.equal(quantile([7], 0.99), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  assert.equal(median([5, 1, 3]), 3);
});
