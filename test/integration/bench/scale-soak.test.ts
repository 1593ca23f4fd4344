import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../../../shared/log.ts';
import { runBench } from '../../../bench/run-bench.ts';
import { SOAK_QUICK } from '../../../bench/scale.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');

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

test('bench --scenario scale-soak with hosts joining over time: the windows see the swarm grow', async () => {
  // 3 hosts per worker, arriving at 0, 3 and 6 s: 2 per worker by the first window's end (5 s), all 6 by the second's.
  const r = await runBench({ scenario: 'scale-soak', quick: true, soak: { ...SOAK_QUICK, hosts: 6, durationS: 10, windowS: 5, joinS: 9 }, log: silentLogger });
  assert.equal(r.scale_soak_join_s, 9);
  const windows = r.scale_soak_windows ?? [];
  assert.equal(windows.length, 2);
  assert.ok(windows[0].hosts >= 2 && windows[0].hosts < 6, `hosts at ${windows[0].t_s} s: ${windows[0].hosts}`);
  assert.equal(windows[1].hosts, 6);
  assert.ok((r.scale_soak_start_s ?? 0) >= 6, `the last host started after ${r.scale_soak_start_s} s`);
}, 90_000);

test('the soak\'s flags: a swarm of at least 2 hosts, and only for the soak (exit 2, one line naming the flag)', async () => {
  const bench = (...args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'swarmpath.js'), 'bench', ...args], { timeout: 60_000 })
    .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
  for (const [args, message] of [
    [['--scenario', 'scale-soak', '--hosts', '1'], 'swarmpath bench: --hosts must be at least 2; got 1'],
    [['--scenario', 'scale-soak', '--duration-s', '5'], 'swarmpath bench: --duration-s must be at least 10; got 5'],
    [['--scenario', 'decode', '--hosts', '8'], 'swarmpath bench: --hosts and --duration-s apply only to --scenario scale-soak'],
    [['--scenario', 'scale', '--duration-s', '60'], 'swarmpath bench: --hosts and --duration-s apply only to --scenario scale-soak'],
    [['--scenario', 'decode', '--join-s', '60'], 'swarmpath bench: --join-s applies only to --scenario scale and scale-soak'],
    [['--scenario', 'scale-soak', '--warmup-s', '60'], 'swarmpath bench: --warmup-s applies only to --scenario scale'],
  ] as const) {
    const r = await bench(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr.trim(), message);
  }
});
