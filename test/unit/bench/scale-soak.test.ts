import assert from 'node:assert/strict';
import { test } from 'vitest';
import { formatBench, type BenchResult } from '../../../bench/run-bench.ts';
import { failingHosts, ratesBetween, settledAt, trimmedRate } from '../../../bench/scale.ts';

test('rates: messages per host per minute, in all and by kind, over the hosts alive in both snapshots', () => {
  type Snap = { index: number; counts: Record<string, number> };
  const before: Snap[] = [{ index: 1, counts: { kad: 10, ping: 2 } }, { index: 2, counts: { kad: 0 } }, { index: 3, counts: { kad: 50 } }];
  // host 3 crashed in between, host 4 joined: neither is judged. Host 2 opened its first ping.
  const after: Snap[] = [{ index: 1, counts: { kad: 40, ping: 2 } }, { index: 2, counts: { kad: 10, ping: 4 } }, { index: 4, counts: { kad: 99 } }];
  // 30 s: (30 + 0) + (10 + 4) = 44 messages by 2 hosts in half a minute.
  assert.deepEqual(ratesBetween(before, after, 30_000), { perHostMin: 44, byKind: { kad: 40, ping: 4 } });
});

test('rates of no common host are zero, not NaN', () => {
  assert.deepEqual(ratesBetween([{ index: 1, counts: { kad: 1 } }], [{ index: 2, counts: { kad: 5 } }], 60_000), { perHostMin: 0, byKind: {} });
});

test('settled: the first window of the last run of windows with no failing host', () => {
  const w = (t_s: number, failing_hosts: number) => ({ t_s, failing_hosts });
  assert.equal(settledAt([w(30, 90), w(60, 40), w(90, 0), w(120, 0)]), 90);
  assert.equal(settledAt([w(30, 0), w(60, 3), w(90, 0), w(120, 0)]), 90, 'a relapse starts the count again');
  assert.equal(settledAt([w(30, 0), w(60, 0)]), 30);
  assert.equal(settledAt([w(30, 0), w(60, 1)]), null, 'failing at the end: not settled');
  assert.equal(settledAt([]), null);
});

test('the table prints each soak window as JSON, and a list of numbers as a list', () => {
  const window = { t_s: 30, hosts: 100, rpcs_per_host_min: 80, by_kind: { kad: 60 }, failing_hosts: 0, view_p50_ms: 500, connections_per_host: 12, trimmed_per_host_min: 0.5, worker_cores: [0.4, 0.5], worker_rss_mb: [900, 950] };
  const r: BenchResult = {
    scenario: 'scale-soak', quick: false, model_source: 'bundled', host_args: [], date: '', elapsed_s: 1,
    machine: { cpu: 'x', cores: 2, node: 'v24', platform: 'linux', loadavg: [0.5, 0.6] },
    scale_soak_windows: [window], scale_soak_settled_s: 30,
  };
  const lines = formatBench(r).split('\n');
  assert.ok(lines.some((l) => l.includes('scale_soak_windows') && l.endsWith(JSON.stringify([window]))), lines.join('\n'));
  assert.ok(lines.some((l) => /scale_soak_settled_s\s+30$/.test(l)));
});

test('trimmed connections per host per minute: by host, over the hosts sampled now', () => {
  const prev = [{ index: 0, trimmed: 4 }, { index: 1, trimmed: 0 }];
  // Host 0 closed 6 more, host 1 3, host 2 (new) 3, over 30 s among 3 hosts: 12 / 3 / 0.5 min.
  assert.equal(trimmedRate(prev, [{ index: 0, trimmed: 10 }, { index: 1, trimmed: 3 }, { index: 2, trimmed: 3 }], 30_000), 8);
  assert.equal(trimmedRate(prev, prev, 30_000), 0);
  assert.equal(trimmedRate(prev, [], 30_000), 0);
});

test('failing hosts: those with publications failing now, whatever else they report', () => {
  assert.equal(failingHosts([{ publicationFailures: 0 }, { publicationFailures: 3 }, { publicationFailures: 1 }]), 2);
  assert.equal(failingHosts([]), 0);
});
