import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { synthFixture } from '../../helpers/synth-fixture.ts';

const MAIN = new URL('../../../cli/main.ts', import.meta.url).pathname;
const run = promisify(execFile);

/** The keys SPEC.md section 6 promises for the decode figures. */
const DECODE_KEYS = ['monolithic_step_ms', 'swarm_step_ms', 'hops', 'grpc_echo_ms', 'hop_overhead_ratio', 'route_us',
  'step_ms_pos16', 'step_ms_pos512', 'tokens_per_s_1', 'tokens_per_s_c', 'concurrency', 'host_rss_mb', 'router_rss_mb',
  // host-to-host forwarding (issue 12)
  'swarm_step_ms_chain', 'chained_steps', 'tokens_per_s_c_chain', 'wan_one_way_ms', 'wan_step_ms_chain', 'wan_step_ms_relay',
  'wan_ttft_ms_chain', 'wan_ttft_ms_relay',
  // time to first token of a 512-token prompt: pipelined (the default), in one step, in one process
  'ttft_ms_512', 'ttft_ms_512_unpipelined', 'ttft_ms_512_monolithic'];

test('swarmpath bench --scenario decode --quick --json prints one JSON object with every decode key of SPEC.md section 6', async () => {
  const model = await synthFixture({ dModel: 64, heads: 4, layers: 1, levels: [2, 2], maxContext: 600 });
  const { stdout } = await run(process.execPath, [MAIN, 'bench', '--scenario', 'decode', '--quick', '--json', '--model', model],
    { env: { ...process.env, SWARMPATH_LOG: 'warn' }, timeout: 120_000 });
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'stdout holds exactly one line');
  const r = JSON.parse(lines[0]) as Record<string, unknown>;
  for (const k of DECODE_KEYS) {
    assert.equal(typeof r[k], 'number', `${k} is a number`);
    assert.ok(Number.isFinite(r[k] as number) && (r[k] as number) > 0, `${k} = ${r[k]} is positive`);
  }
  const n = (k: string): number => r[k] as number;
  assert.equal(r.model_source, 'flag');
  assert.equal(n('hops'), 2, 'two levels: two network stages');
  assert.equal(n('concurrency'), 32);
  assert.ok(n('swarm_step_ms') > n('monolithic_step_ms'), 'the network costs something');
  const ratio = (n('swarm_step_ms') - n('monolithic_step_ms')) / n('hops') / n('grpc_echo_ms');
  assert.ok(Math.abs(ratio - n('hop_overhead_ratio')) <= 0.01 * Math.max(1, ratio), `hop_overhead_ratio follows its formula (${ratio})`);
  assert.deepEqual((r.path as string[]).length, 2);
  // The chained runs really went host to host, none finished by the router; with the delay added on
  // every connection, a chained step crosses 3 delays and a relayed one 4.
  assert.equal(r.chain_fallbacks, 0);
  assert.ok(n('wan_step_ms_chain') >= 3 * n('wan_one_way_ms') && n('wan_step_ms_relay') >= 4 * n('wan_one_way_ms'), 'each delay is really crossed');
  const bars = r.bars as { name: string; pass: boolean }[];
  assert.deepEqual(bars.map((b) => b.name), ['hop_overhead_ratio', 'step_ms_pos512 / step_ms_pos16', 'tokens_per_s_c / tokens_per_s_1', 'route_us']);
  assert.equal(typeof (r.machine as { cores: number }).cores, 'number');
});
