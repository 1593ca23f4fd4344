import { test } from 'vitest';
import assert from 'node:assert/strict';
import { failoverFigures } from '../../../bench/failover.ts';
import type { RequestSample } from '../../../bench/load-harness.ts';

const s = (index: number, startMs: number, ms: number, ok = true, replays = 0): RequestSample =>
  ({ index, stream: false, startMs, endMs: startMs + ms, status: ok ? 200 : 503, ok, shed: !ok, tokens: ok ? 4 : 0, replays });

test('failover figures: percentiles, the window around the kill, failures and recovery', () => {
  const samples: RequestSample[] = [];
  for (let i = 0; i < 20; i++) samples.push(s(i, i * 250, 100));             // 0..4.75 s, 100 ms each
  samples.push(s(20, 5000, 1500));                                            // in flight at the kill (5.2 s), slow
  samples.push(s(21, 5250, 50, false));                                       // failed
  samples.push(s(22, 5500, 900));                                             // slow, ends at 6.4 s
  for (let i = 23; i < 40; i++) samples.push(s(i, 5750 + (i - 23) * 250, 100)); // back to normal
  const f = failoverFigures(samples, 5200);
  assert.equal(f.requests, 40);
  assert.equal(f.failed, 1);
  assert.equal(f.p50_ms, 100);
  assert.equal(f.p99_ms, 1500);
  assert.equal(f.p99_during_failover_ms, 1500);
  // Disturbed: #20 (ends 6.5 s), #21 (failed), #22 (ends 6.4 s) => recovery at 6.5 s - 5.2 s.
  assert.equal(f.recovery_s, 1.3);
  assert.equal(f.replayed, 0);
});

test('a fast request that needed a replay still counts as disturbed', () => {
  const samples: RequestSample[] = [];
  for (let i = 0; i < 20; i++) samples.push(s(i, i * 250, 100));
  samples.push(s(20, 5000, 110, true, 1));   // replayed, ends 5.11 s
  samples.push(s(21, 7000, 100, true, 2));   // replayed, ends 7.1 s
  samples.push(s(22, 7250, 100));
  const f = failoverFigures(samples, 5050);
  assert.equal(f.failed, 0);
  assert.equal(f.replayed, 2);
  assert.deepEqual(f.replays_at_s, [0.1, 2.1]);
  assert.equal(f.recovery_s, 2.1);
});

test('an undisturbed run recovers in 0 s', () => {
  const samples = Array.from({ length: 30 }, (_, i) => s(i, i * 100, 80 + (i % 3)));
  const f = failoverFigures(samples, 1550);
  assert.equal(f.failed, 0);
  assert.equal(f.recovery_s, 0);
});
