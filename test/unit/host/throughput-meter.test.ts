import assert from 'node:assert/strict';
import { test } from 'vitest';
import { createThroughputMeter } from '../../../expert-host/throughput-meter.ts';

test('tokens per second over the window, young meters over their age', () => {
  let now = 1_000_000;
  const m = createThroughputMeter(60, () => now);
  assert.equal(m.rate(), 0);
  m.add(100);
  now += 10_000;
  m.add(100);
  assert.equal(m.rate(), 200 / 10);
  now += 60_000; // both buckets leave the window
  m.add(30);
  assert.equal(m.rate(), 30 / 60);
});

test('a bucket reused after a full window starts from zero', () => {
  let now = 0;
  const m = createThroughputMeter(2, () => now);
  m.add(10);
  now = 2000; // same slot, two seconds later
  m.add(1);
  assert.equal(m.rate(), 1 / 2);
});
