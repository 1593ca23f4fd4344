import { test } from 'vitest';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log.ts';
import { runBench } from '../../../bench/run-bench.ts';

test('bench --scenario heavy --quick on a tiny synthesized model: real hosts, finite positive figures, its bars', async () => {
  const r = await runBench({
    scenario: 'heavy', quick: true, log: silentLogger,
    heavyShape: { dModel: 32, heads: 2, layers: 1, levels: [1, 1], maxContext: 64 },
  });
  for (const k of ['heavy_monolithic_step_ms', 'heavy_swarm_step_ms', 'heavy_overhead_ratio', 'heavy_grpc_echo_ms', 'heavy_host_rss_mb'] as const) {
    const v = r[k];
    assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${k} = ${v} is finite and positive`);
  }
  for (const [k, v] of Object.entries(r.heavy_breakdown ?? {})) {
    if (k !== 'per_hop_overhead_ms') assert.ok(Number.isFinite(v) && v > 0, `heavy_breakdown.${k} = ${v}`);
  }
  assert.equal(r.heavy_hops, 2, 'two levels: two network stages');
  assert.equal(r.heavy_grpc_echo_bytes, 4 * 32);
  assert.deepEqual(r.heavy_dims, { d_model: 32, n_heads: 2, layers_per_expert: 1, levels: [1, 1], max_context: 64, path: ['L0.0', 'L1.0'] });
  assert.ok(Number.isFinite(r.heavy_cpu_per_step?.hosts_ms), 'the hosts\' CPU was read');
  const ratio = r.heavy_swarm_step_ms! / r.heavy_monolithic_step_ms!; // of rounded medians: close, not equal
  assert.ok(Math.abs(r.heavy_overhead_ratio! - ratio) <= 0.01 * ratio, `the ratio ${r.heavy_overhead_ratio} is swarm over monolithic (${ratio})`);
  assert.deepEqual(r.bars?.map((b) => b.name), ['heavy_overhead_ratio', 'heavy_monolithic_step_ms']);
  assert.equal(r.monolithic_step_ms, undefined, 'the decode scenario did not run');
}, 60_000);
