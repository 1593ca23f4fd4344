import { test } from 'vitest';
import assert from 'node:assert/strict';
import { jitteredDelayMs, jitteredSchedule } from '../../../expert-host/rebalancing/schedule.ts';
import { prng } from './fixtures.ts';
import { manualTimers } from '../../helpers/manual-timers.ts';

test('jittered delays stay in [interval*(1-j), interval*(1+j)] and spread over it', () => {
  assert.equal(jitteredDelayMs(1000, 0.5, 0), 500);
  assert.equal(jitteredDelayMs(1000, 0.5, 0.5), 1000);
  assert.equal(jitteredDelayMs(1000, 0, 0.9), 1000);
  const rand = prng(3);
  const xs = Array.from({ length: 2000 }, () => jitteredDelayMs(1000, 0.5, rand()));
  assert.ok(xs.every((x) => x >= 500 && x < 1500));
  const buckets = [0, 0, 0, 0];
  for (const x of xs) buckets[Math.floor((x - 500) / 250)]++;
  assert.ok(buckets.every((b) => b > 400), `uniform spread: ${buckets}`);
});

/** Hand-driven timers: `advance(ms)` fires what is due, in order. */
const fakeTimers = () => manualTimers();

test('the schedule checks at jittered intervals, one at a time, until stopped', async () => {
  const t = fakeTimers();
  const at: number[] = [];
  const s = jitteredSchedule({ intervalMs: 100, jitter: 0.5, random: () => 0, timers: t.timers }, () => { at.push(t.now); });
  s.start();
  await t.advance(260);
  assert.deepEqual(at, [50, 100, 150, 200, 250]);
  await s.stop();
  await t.advance(1000);
  assert.equal(at.length, 5);
  assert.equal(t.pending, 0);
});

test('a slow check delays the next; errors are reported and the schedule goes on', async () => {
  const t = fakeTimers();
  const errors: unknown[] = [];
  let calls = 0;
  let release: () => void = () => {};
  const s = jitteredSchedule({ intervalMs: 100, jitter: 0, firstDelayMs: 10, timers: t.timers, onError: (e) => errors.push(e) }, async () => {
    calls++;
    if (calls === 1) await new Promise<void>((r) => { release = r; });
    if (calls === 2) throw new Error('boom');
  });
  s.start();
  await t.advance(500);
  assert.equal(calls, 1, 'no second check while the first runs');
  release();
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await t.advance(100);
  assert.equal(calls, 2);
  assert.equal(errors.length, 1);
  await t.advance(100);
  assert.equal(calls, 3);
  await s.stop();
});

test('runNow checks at once and re-times the next check', async () => {
  const t = fakeTimers();
  let calls = 0;
  const s = jitteredSchedule({ intervalMs: 100, jitter: 0, timers: t.timers }, () => { calls++; });
  s.start();
  await t.advance(50);
  await s.runNow();
  assert.equal(calls, 1);
  await t.advance(99);
  assert.equal(calls, 1);
  await t.advance(1);
  assert.equal(calls, 2);
  await s.stop();
});

test('scale() stretches the next interval, read after each check (the swarm-size scaling of rebalancer.ts)', async () => {
  const t = fakeTimers();
  const at: number[] = [];
  let scale = 1;
  const s = jitteredSchedule({ intervalMs: 100, jitter: 0, firstDelayMs: 10, scale: () => scale, timers: t.timers }, () => { at.push(t.now); scale = 3; });
  s.start();
  await t.advance(700);
  assert.deepEqual(at, [10, 310, 610], 'after the first check, every 3 intervals');
  await s.stop();
});
