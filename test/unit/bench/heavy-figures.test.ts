import { test } from 'vitest';
import assert from 'node:assert/strict';
import { HEAVY_FULL, HEAVY_QUICK, HEAVY_SHAPE, heavyFigures, heavyShape } from '../../../bench/heavy-figures.ts';
import { bars } from '../../../bench/run-bench.ts';

test('heavy figures: medians of the samples, the ratio of the unrounded medians, the per-hop overhead', () => {
  const f = heavyFigures({
    mono: [10, 9, 11, 100], // median 10 (upper-lower of 4: the 2nd of 4 sorted values)
    swarm: [12, 11.5, 13, 11],
    chain: [14, 12.5, 13],
    echo: [0.5, 0.7, 0.6],
    stem: [0.1, 0.1, 0.2], stages: [11, 11.2, 11.4], head: [0.3, 0.3, 0.4],
  }, 2, 1024);
  assert.equal(f.heavy_monolithic_step_ms, 10);
  assert.equal(f.heavy_swarm_step_ms, 11.5);
  assert.equal(f.heavy_swarm_step_ms_chain, 13);
  assert.equal(f.heavy_overhead_ratio, 1.15);
  assert.equal(f.heavy_hops, 2);
  assert.equal(f.heavy_grpc_echo_ms, 0.6);
  assert.equal(f.heavy_grpc_echo_bytes, 4096, 'one position of d_model fp32 values');
  assert.deepEqual(f.heavy_breakdown, { router_stem_ms: 0.1, stages_ms: 11.2, router_head_sample_ms: 0.3, per_hop_overhead_ms: 0.75 });
});

test('heavy figures: the ratio is rounded to 3 decimals, not computed from rounded medians', () => {
  const f = heavyFigures({ mono: [3.0004], swarm: [3.1], chain: [3.2], echo: [1], stem: [0], stages: [0], head: [0] }, 1, 8);
  assert.equal(f.heavy_monolithic_step_ms, 3);
  assert.equal(f.heavy_overhead_ratio, Math.round((3.1 / 3.0004) * 1000) / 1000);
});

test('the heavy shape: defaults, overrides, and a context too short for the run is refused', () => {
  const s = heavyShape(undefined, 16, HEAVY_FULL);
  assert.deepEqual(s, { ...HEAVY_SHAPE, levels: [1, 1] });
  assert.equal(s.levels.length, 2, 'two levels: two network stages');
  assert.equal(s.dModel % s.heads, 0);
  assert.notEqual(s.levels, HEAVY_SHAPE.levels, 'a copy: the frozen default is never handed out');
  assert.deepEqual(heavyShape({ dModel: 32, heads: 2, layers: 1 }, 16, HEAVY_QUICK), { ...HEAVY_SHAPE, levels: [1, 1], dModel: 32, heads: 2, layers: 1 });
  assert.throws(() => heavyShape({ maxContext: 16 + HEAVY_QUICK.steps }, 16, HEAVY_QUICK), /max_context 32 cannot hold/);
  assert.doesNotThrow(() => heavyShape({ maxContext: 16 + HEAVY_QUICK.steps + 1 }, 16, HEAVY_QUICK));
});

test('heavy bars: swarm within 1.10x of one process (aim 1.03), floor at least 5 ms; none without heavy figures', () => {
  const b = bars({ heavy_overhead_ratio: 1.2, heavy_monolithic_step_ms: 7.5 });
  assert.deepEqual(b, [
    { name: 'heavy_overhead_ratio', value: 1.2, limit: 1.1, aim: 1.03, pass: false },
    { name: 'heavy_monolithic_step_ms', value: 7.5, limit: 5, aim: 5, pass: true },
  ]);
  assert.deepEqual(bars({ heavy_overhead_ratio: 1.1, heavy_monolithic_step_ms: 4.9 }).map((x) => x.pass), [true, false]);
  assert.deepEqual(bars({ route_us: 10, ttft_ratio_512: 3 }).map((x) => x.name), ['route_us'], 'ttft is reported, not barred');
});
