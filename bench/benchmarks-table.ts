/**
 * Renders the tables of BENCHMARKS.md from one `swarmpath bench --json` result, so that the
 * figures in the document are the run's own and not copied by hand:
 *
 *   node cli/main.ts bench --json > /tmp/bench.json && node bench/benchmarks-table.ts /tmp/bench.json
 */
import { readFileSync } from 'node:fs';
import type { BenchResult } from './run-bench.ts';

const MEANING: Record<string, string> = {
  monolithic_step_ms: 'one decode step of the whole path in one process (stem, experts, head; onnxruntime, no network): the floor',
  swarm_step_ms: 'the same step through the router pipeline and one host process per expert over loopback gRPC (`--chain auto`: relayed here)',
  swarm_step_ms_chain: 'the same with host-to-host forwarding forced on (`--chain on`)',
  chained_steps: 'steps of the timed chained runs that went host to host',
  chain_fallbacks: 'stages of those the router had to finish itself (0 in a healthy run)',
  wan_one_way_ms: 'delay added each way on every connection (bench/latency-proxy.ts) for the wan_* keys',
  wan_step_ms_chain: 'one decode step with that delay, chained: n + 1 delays for n stages',
  wan_step_ms_relay: 'the same relayed by the router: 2n delays',
  wan_ttft_ms_chain: 'time to first token of a 16-token prompt with that delay (sessions opened together, prefill), chained',
  wan_ttft_ms_relay: 'the same relayed',
  hops: 'network stages in that step (one per level)',
  grpc_echo_ms: 'bare @grpc/grpc-js unary echo of one position\'s activations (512 bytes) to another process: the transport floor',
  hop_overhead_ratio: '(swarm_step_ms - monolithic_step_ms) / hops / grpc_echo_ms',
  route_us: 'the router\'s path choice for one prompt (featurize + nearest centroid)',
  step_ms_pos16: 'swarm decode step right after a 16-token prompt',
  step_ms_pos512: 'swarm decode step right after a 512-token prompt',
  tokens_per_s_1: 'decode tokens/s of one session through the swarm',
  tokens_per_s_c: 'aggregate decode tokens/s of `concurrency` sessions at once',
  tokens_per_s_c_chain: 'the same with host-to-host forwarding forced on',
  concurrency: 'sessions in the concurrent run',
  host_rss_mb: 'resident memory of the largest host process after the run, MiB',
  router_rss_mb: 'resident memory of the process that ran the router pipeline (the bench process) after the run, MiB',
  requests: 'failover run: requests sent at a fixed rate',
  failed: 'failover run: requests that did not complete with 200',
  p50_ms: 'failover run: median latency of successful requests',
  p99_ms: 'failover run: p99 latency of successful requests',
  p99_during_failover_ms: 'p99 of requests in flight at the kill or started in the 5 s after it',
  recovery_s: 'kill to the end of the last request that failed, needed a replay, or took over 1.5x the pre-kill p99',
  replayed: 'requests that needed a replay on another replica',
  router_failovers: 'the router\'s swarmpath_failovers_total after the run',
  swarm_router_rss_mb: 'resident memory of the bench swarm\'s real router process after load and failover, MiB',
  swarm_host_rss_mb: 'the same for its largest live host, MiB',
};

const fmt = (v: unknown): string => (typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : Array.isArray(v) ? v.join(', ') : String(v));

/** Markdown tables of a bench result. */
export function benchmarksTables(r: BenchResult): string {
  const rows = (keys: string[]): string => keys.filter((k) => (r as Record<string, unknown>)[k] !== undefined)
    .map((k) => `| \`${k}\` | ${fmt((r as Record<string, unknown>)[k])} | ${MEANING[k] ?? ''} |`).join('\n');
  const out: string[] = [];
  out.push('| key | value | meaning |', '| --- | --- | --- |', rows(['monolithic_step_ms', 'swarm_step_ms', 'swarm_step_ms_chain', 'chained_steps', 'chain_fallbacks', 'hops',
    'grpc_echo_ms', 'hop_overhead_ratio', 'route_us', 'step_ms_pos16', 'step_ms_pos512', 'tokens_per_s_1', 'tokens_per_s_c', 'tokens_per_s_c_chain',
    'concurrency', 'wan_one_way_ms', 'wan_step_ms_chain', 'wan_step_ms_relay', 'wan_ttft_ms_chain', 'wan_ttft_ms_relay', 'host_rss_mb', 'router_rss_mb']));
  if (r.requests !== undefined) {
    out.push('', '| failover | value | meaning |', '| --- | --- | --- |', rows(['requests', 'failed', 'p50_ms', 'p99_ms', 'p99_during_failover_ms', 'recovery_s',
      'replayed', 'router_failovers', 'swarm_router_rss_mb', 'swarm_host_rss_mb']));
  }
  if (r.bars?.length) {
    out.push('', '| bar (issue 6) | value | limit | aim | |', '| --- | --- | --- | --- | --- |',
      ...r.bars.map((b) => `| ${b.name} | ${fmt(b.value)} | ${b.limit} | ${b.aim} | ${b.pass ? 'met' : 'missed'} |`));
  }
  return out.join('\n') + '\n';
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const file = process.argv[2];
  if (!file) { process.stderr.write('usage: node bench/benchmarks-table.ts RESULT.json\n'); process.exitCode = 2; }
  else process.stdout.write(benchmarksTables(JSON.parse(readFileSync(file, 'utf8')) as BenchResult));
}
