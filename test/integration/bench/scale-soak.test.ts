import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { runBench } from '../../../bench/run-bench.ts';
import { SOAK_QUICK } from '../../../bench/scale.ts';

test('bench --scenario scale-soak: real kad-dht nodes in 2 worker processes, followed window by window', async () => {
  const r = await runBench({ scenario: 'scale-soak', quick: true, soak: { ...SOAK_QUICK, hosts: 6, durationS: 10, windowS: 5 }, log: silentLogger });
  assert.equal(r.scale_soak_hosts, 6);
  assert.equal(r.scale_soak_experts, 8);
  const windows = r.scale_soak_windows ?? [];
  assert.equal(windows.length, 2, 'two 5 s windows in 10 s');
  assert.ok(windows[1].t_s >= 9.5 && windows[1].t_s <= 12, `the last window ends at ${windows[1].t_s} s`);
  for (const w of windows) {
    assert.equal(w.worker_cores.length, 2);
    assert.ok(w.worker_cores.every((c) => Number.isFinite(c) && c > 0), `each worker used CPU: ${w.worker_cores}`);
    assert.ok(w.worker_rss_mb.every((m) => m > 50), `worker memory read: ${w.worker_rss_mb}`);
    // 6 hosts and the boot node: every host holds at least its bootstrap connection.
    assert.ok(w.connections_per_host >= 1, `connections per host ${w.connections_per_host}`);
  }
  // A young swarm publishes and looks up: DHT messages were counted in the first window.
  assert.ok((windows[0].by_kind['/swarmpath/kad/1.0.0'] ?? 0) > 0, JSON.stringify(windows[0].by_kind));
  assert.equal(r.scale_soak_settled_s === null, windows[windows.length - 1].failing_hosts > 0);
  assert.equal(r.scale_hosts, undefined, 'the scale scenario did not run');
}, 90_000);
