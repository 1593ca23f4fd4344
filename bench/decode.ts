/**
 * The `decode` scenario (SPEC.md section 6): one decode step of a whole path in one process
 * (MonolithicRunner, the floor) and the same step through the router's pipeline and one host process
 * per expert over loopback gRPC; the transport floor (a bare gRPC echo of one position's activations);
 * the router's path choice; steps at context 16 and 512; time to first token of a 512-token prompt
 * through the swarm and in one process; tokens/s of one and of `concurrency` sessions; resident
 * memory. Every figure is a median over repeated runs in this process.
 */
import type { Logger } from '../shared/log.ts';
import type { ModelPackage } from '../shared/runtime-types.ts';
import { loadPackage } from '../shared/model/package.ts';
import { choosePath } from '../shared/model/path-choice.ts';
import { createMonolithicRunner } from '../shared/model/monolithic.ts';
import type { MonolithicRunner } from '../shared/model/monolithic.ts';
import { argmax } from '../shared/model/sampling.ts';
import { median } from './arrivals.ts';
import { openGrpcEcho } from './grpc-echo.ts';
import type { EchoBench } from './grpc-echo.ts';
import { startLocalHost, staticDiscovery } from './local-hosts.ts';
import type { LocalHost } from './local-hosts.ts';
import { openPipeline } from './swarm-pipeline.ts';
import { startLatencyProxy, type LatencyProxy } from './latency-proxy.ts';
import type { ChainMode } from '../router/path-session.ts';
import type { Pipeline, StepBreakdown } from './swarm-pipeline.ts';
import { cpuMsOf, rssMbOf } from './child-process.ts';

export interface DecodeSizes {
  /** Decode steps per timed run. */
  steps: number;
  /** Timed runs (the median is over all their steps). */
  repeats: number;
  /** Steps timed at context 16 and at context 512. */
  posSteps: number;
  concurrency: number;
  /** Decode steps per session in the concurrent run (FULL: as many as `steps`, so both rates cover the same contexts). */
  concurrentSteps: number;
  /** Timed concurrent runs, after one untimed warm-up run. */
  concurrentRepeats: number;
  echoCalls: number;
  /** Path choices timed (in batches of 1000). */
  routeCalls: number;
  /** Decode steps per run and runs of each mode with WAN_ONE_WAY_MS added to every connection. */
  wanSteps: number;
  wanRepeats: number;
}

export const QUICK: DecodeSizes = { steps: 16, repeats: 3, posSteps: 8, concurrency: 32, concurrentSteps: 8, concurrentRepeats: 1, echoCalls: 200, routeCalls: 5000, wanSteps: 8, wanRepeats: 1 };
export const FULL: DecodeSizes = { steps: 64, repeats: 12, posSteps: 16, concurrency: 32, concurrentSteps: 64, concurrentRepeats: 5, echoCalls: 1500, routeCalls: 50000, wanSteps: 24, wanRepeats: 4 };
/** One-way delay of the WAN measurement (latency-proxy.ts between the router and each host, and between hosts), ms. */
export const WAN_ONE_WAY_MS = 5;

export interface DecodeResult {
  model: string;
  path: string[];
  monolithic_step_ms: number;
  /** One decode step through the pipeline as the router runs it by default (`--chain auto`: relayed, the hosts being on this machine). */
  swarm_step_ms: number;
  /** The same with host-to-host forwarding forced on (`--chain on`). */
  swarm_step_ms_chain: number;
  /** Steps of the timed chained runs that went chained (all but each run's prefill), and router fallbacks among them (0 in a healthy run). */
  chained_steps: number;
  chain_fallbacks: number;
  hops: number;
  grpc_echo_ms: number;
  grpc_echo_bytes: number;
  hop_overhead_ratio: number;
  route_us: number;
  step_ms_pos16: number;
  step_ms_pos512: number;
  /**
   * Time to first token of a 512-token prompt, ms: prefill through the router pipeline and the hosts
   * (embed, every stage, head, sample) and the same in one process. Absent when the model's
   * max_context cannot hold 512 tokens and the decode steps after them.
   */
  ttft_ms_512?: number;
  ttft_ms_512_monolithic?: number;
  /** ttft_ms_512 / ttft_ms_512_monolithic (reported, no bar). */
  ttft_ratio_512?: number;
  /** ttft_ms_512 with the prompt in one step through each stage (no pipelined prefill, router --prefill-chunk 0). */
  ttft_ms_512_unpipelined?: number;
  tokens_per_s_1: number;
  tokens_per_s_c: number;
  /** tokens_per_s_c with host-to-host forwarding forced on. */
  tokens_per_s_c_chain: number;
  concurrency: number;
  /**
   * One decode step with WAN_ONE_WAY_MS of delay on every connection (router to each host, host to
   * host), chained and relayed: a path of n stages crosses n + 1 delays chained and 2n relayed.
   */
  wan_one_way_ms: number;
  wan_step_ms_chain: number;
  wan_step_ms_relay: number;
  /** Time to first token of the 16-token prompt with that delay (sessions opened, prefill, head), chained and relayed. */
  wan_ttft_ms_chain: number;
  wan_ttft_ms_relay: number;
  host_rss_mb: number;
  router_rss_mb: number;
  /** Medians of one single-session swarm step's parts, ms, and the overhead per hop over the floor. */
  breakdown: {
    router_stem_ms: number; stages_ms: number; router_head_sample_ms: number; per_hop_ms: number; per_hop_overhead_ms: number;
    /** The floor (monolithic) at context 16 and 512: how much of the long-context cost is compute. */
    monolithic_pos16_ms: number; monolithic_pos512_ms: number;
  };
  /** CPU used during the concurrent run: ms of CPU per generated token (router process, all hosts) and cores busy. */
  cpu_c: { router_ms_per_token: number; hosts_ms_per_token: number; cores_busy: number };
}

/** A prompt of exactly `n` bytes (ASCII), repeated text. */
export function promptOf(n: number): Uint8Array {
  const text = 'The quick brown fox jumps over the lazy dog while the swarm keeps every expert busy. ';
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = text.charCodeAt(i % text.length);
  return out;
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
/** Long-prompt prefills on each side before the timed rounds. */
const LONG_WARMUPS = 3;

/**
 * Runs the decode scenario on the package in `modelDir`. The floor (monolithic), the transport floor
 * (echo), the swarm step after a 16-token prompt and after a 512-token one are measured in
 * interleaved rounds, so that load from other processes on the machine hits all of them alike; each
 * figure is the median over all rounds (the first round is a warm-up and not counted).
 */
export async function runDecode(modelDir: string, sizes: DecodeSizes, log: Logger, hostArgs: readonly string[] = []): Promise<DecodeResult> {
  const pkg = await loadPackage(modelDir);
  const prompt16 = promptOf(16);
  const path = [...choosePath(pkg.manifest.router, prompt16).path];
  const route_us = measureRoute(pkg, prompt16, sizes.routeCalls);
  log.info('route timed', { route_us, path });
  const D = pkg.manifest.dims.d_model;
  const hosts: LocalHost[] = [];
  let pipeline: Pipeline | undefined;
  let mono: MonolithicRunner | undefined;
  let echo: EchoBench | undefined;
  try {
    hosts.push(...await Promise.all(path.map((id) => startLocalHost(modelDir, [id], hostArgs))));
    [mono, echo, pipeline] = await Promise.all([
      createMonolithicRunner({ pkg, path, threads: 1 }), openGrpcEcho(4 * D),
      openPipeline(pkg, staticDiscovery(pkg.manifest.name, hosts)),
    ]);
    const monoTimes: number[] = [], echoTimes: number[] = [], swarmTimes: number[] = [], chainTimes: number[] = [], pos16: number[] = [], rates: number[] = [];
    const stem: number[] = [], stages: number[] = [], head: number[] = [];
    /** Decode steps sent chained in the chained runs, and router fallbacks among them. */
    let chained = 0, fallbacks = 0;
    const long = Math.min(512, pkg.manifest.dims.max_context - sizes.posSteps - 1);
    const promptLong = promptOf(long);
    const pos512: number[] = [], monoPos16: number[] = [], monoPos512: number[] = [], ttft: number[] = [], ttftMono: number[] = [], ttftWhole: number[] = [];
    // onnxruntime runs the first few calls of a new input shape several times slower (the 512-token
    // prefill: 160-290 ms for its first three calls in one process, 22-40 ms after): warm both sides.
    for (let i = 0; i < LONG_WARMUPS; i++) {
      await Promise.all([monolithicSteps(mono, promptLong, 0), swarmSteps(pipeline, path, promptLong, 0)]);
      await swarmSteps(pipeline, path, promptLong, 0, 'auto', 0);
    }
    for (let r = -1; r < sizes.repeats; r++) {
      const m = await monolithicSteps(mono, prompt16, sizes.steps);
      const e: number[] = [];
      for (let i = 0; i < Math.ceil(sizes.echoCalls / sizes.repeats); i++) e.push(await echo.time());
      const s = await swarmSteps(pipeline, path, prompt16, sizes.steps);
      const sc = await swarmSteps(pipeline, path, prompt16, sizes.steps, 'on');
      const l = await swarmSteps(pipeline, path, promptLong, sizes.posSteps);
      const ml = await monolithicSteps(mono, promptLong, sizes.posSteps);
      const lw = await swarmSteps(pipeline, path, promptLong, 0, 'auto', 0);
      if (r < 0) continue; // warm-up round
      ttftWhole.push(lw.prefillMs);
      pos512.push(...l.times);
      monoPos512.push(...ml.times);
      ttft.push(l.prefillMs);
      ttftMono.push(ml.prefillMs);
      monoPos16.push(...m.times.slice(0, sizes.posSteps));
      monoTimes.push(...m.times);
      echoTimes.push(...e);
      swarmTimes.push(...s.times);
      chainTimes.push(...sc.times);
      chained += sc.chained;
      fallbacks += sc.fallbacks;
      stem.push(...s.parts.map((x) => x.stemMs));
      stages.push(...s.parts.map((x) => x.stagesMs));
      head.push(...s.parts.map((x) => x.headMs));
      pos16.push(...s.times.slice(0, sizes.posSteps));
      rates.push(s.tokensPerS);
    }
    const monolithic_step_ms = median(monoTimes), grpc_echo_ms = median(echoTimes), swarm_step_ms = median(swarmTimes), swarm_step_ms_chain = median(chainTimes);
    log.info('step timed', { monolithic_step_ms, grpc_echo_ms, swarm_step_ms, swarm_step_ms_chain });
    await mono.release();
    mono = undefined;
    await echo.close();
    echo = undefined;
    const conc = await measureConcurrent(pipeline, path, prompt16, sizes, hosts.map((h) => h.child.pid));
    const concChain = await measureConcurrent(pipeline, path, prompt16, sizes, hosts.map((h) => h.child.pid), 'on');
    const tokens_per_s_c = conc.tokensPerS;
    log.info('concurrency timed', { ...conc, chainTokensPerS: concChain.tokensPerS });
    const wan = await measureWan(pkg, hosts, path, prompt16, sizes);
    log.info('wan timed', { ...wan });
    const hops = path.length;
    const stagesMs = median(stages);
    const ttftFigures = long === 512 ? { ...ttftOf(median(ttft), median(ttftMono)), ttft_ms_512_unpipelined: r3(median(ttftWhole)) } : {};
    log.info('ttft timed', { ...ttftFigures });
    return {
      model: pkg.manifest.name, path,
      monolithic_step_ms: r3(monolithic_step_ms),
      swarm_step_ms: r3(swarm_step_ms),
      swarm_step_ms_chain: r3(swarm_step_ms_chain),
      chained_steps: chained,
      chain_fallbacks: fallbacks,
      hops,
      grpc_echo_ms: r3(grpc_echo_ms),
      grpc_echo_bytes: 4 * D,
      hop_overhead_ratio: r3((swarm_step_ms - monolithic_step_ms) / hops / grpc_echo_ms),
      route_us: r3(route_us),
      step_ms_pos16: r3(median(pos16)),
      step_ms_pos512: r3(median(pos512)),
      ...ttftFigures,
      tokens_per_s_1: r3(median(rates)),
      tokens_per_s_c: r3(tokens_per_s_c),
      tokens_per_s_c_chain: r3(concChain.tokensPerS),
      concurrency: sizes.concurrency,
      wan_one_way_ms: WAN_ONE_WAY_MS,
      wan_step_ms_chain: r3(wan.chain),
      wan_step_ms_relay: r3(wan.relay),
      wan_ttft_ms_chain: r3(wan.ttftChain),
      wan_ttft_ms_relay: r3(wan.ttftRelay),
      host_rss_mb: Math.max(...hosts.map((h) => h.child.rssMb())),
      router_rss_mb: rssMbOf(process.pid),
      breakdown: {
        router_stem_ms: r3(median(stem)), stages_ms: r3(stagesMs), router_head_sample_ms: r3(median(head)),
        per_hop_ms: r3(stagesMs / hops), per_hop_overhead_ms: r3((swarm_step_ms - monolithic_step_ms) / hops),
        monolithic_pos16_ms: r3(median(monoPos16)), monolithic_pos512_ms: r3(median(monoPos512)),
      },
      cpu_c: { router_ms_per_token: r3(conc.routerCpuMsPerToken), hosts_ms_per_token: r3(conc.hostsCpuMsPerToken), cores_busy: r3(conc.coresBusy) },
    };
  } finally {
    await mono?.release();
    await echo?.close();
    await pipeline?.close();
    await Promise.all(hosts.map((h) => h.child.stop()));
  }
}

function ttftOf(swarm: number, mono: number): Pick<DecodeResult, 'ttft_ms_512' | 'ttft_ms_512_monolithic' | 'ttft_ratio_512'> {
  return { ttft_ms_512: r3(swarm), ttft_ms_512_monolithic: r3(mono), ttft_ratio_512: r3(swarm / mono) };
}

/**
 * Median decode step, ms, chained and relayed, with WAN_ONE_WAY_MS added to every connection: a
 * latency proxy in front of each host, whose address the router (and so each host pushing to the
 * next) dials; rounds alternate the two modes.
 */
async function measureWan(pkg: ModelPackage, hosts: readonly LocalHost[], path: string[], prompt: Uint8Array, sizes: DecodeSizes):
  Promise<{ chain: number; relay: number; ttftChain: number; ttftRelay: number }> {
  const proxies: LatencyProxy[] = [];
  let p: Pipeline | undefined;
  try {
    for (const h of hosts) proxies.push(await startLatencyProxy(h.grpc, WAN_ONE_WAY_MS));
    p = await openPipeline(pkg, staticDiscovery(pkg.manifest.name, hosts.map((h, i) => ({ ...h, grpc: proxies[i].address }))));
    const chain: number[] = [], relay: number[] = [], ttftChain: number[] = [], ttftRelay: number[] = [];
    for (let r = -1; r < sizes.wanRepeats; r++) {
      const c = await swarmSteps(p, path, prompt, sizes.wanSteps, 'on');
      const rl = await swarmSteps(p, path, prompt, sizes.wanSteps, 'off');
      if (r < 0) continue;
      chain.push(...c.times);
      relay.push(...rl.times);
      ttftChain.push(c.prefillMs);
      ttftRelay.push(rl.prefillMs);
    }
    return { chain: median(chain), relay: median(relay), ttftChain: median(ttftChain), ttftRelay: median(ttftRelay) };
  } finally {
    await p?.close();
    await Promise.all(proxies.map((x) => x.close()));
  }
}

/** Median µs of one choosePath call, over batches of 1000. */
function measureRoute(pkg: ModelPackage, prompt: Uint8Array, calls: number): number {
  const router = pkg.manifest.router;
  for (let i = 0; i < 1000; i++) choosePath(router, prompt);
  const perBatch: number[] = [];
  for (let done = 0; done < calls; done += 1000) {
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) choosePath(router, prompt);
    perBatch.push(performance.now() - t0); // ms per 1000 calls = µs per call
  }
  return median(perBatch);
}

/**
 * ms of each of `steps` MonolithicRunner decode steps after `prompt` (greedy), and of the prompt's
 * prefill up to its first token (time to first token in one process).
 */
export async function monolithicSteps(runner: MonolithicRunner, prompt: Uint8Array, steps: number): Promise<{ times: number[]; prefillMs: number }> {
  const times: number[] = [];
  const tp = performance.now();
  let tok = argmax(await runner.prefill(prompt));
  const prefillMs = performance.now() - tp;
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    tok = argmax(await runner.decodeStep(tok));
    times.push(performance.now() - t0);
  }
  return { times, prefillMs };
}

/**
 * ms of each of `steps` decode steps through the pipeline after `prompt`, their parts, tokens/s, and
 * the prompt's prefill up to its first token (time to first token through the swarm).
 */
export async function swarmSteps(p: Pipeline, path: string[], prompt: Uint8Array, steps: number, chain: ChainMode = 'auto', prefillChunk?: number):
  Promise<{ times: number[]; parts: StepBreakdown[]; tokensPerS: number; prefillMs: number; chained: number; fallbacks: number }> {
  const s = p.session(path, prompt.length + steps + 1, chain, prefillChunk);
  try {
    const times: number[] = [];
    const parts: StepBreakdown[] = [];
    const tp = performance.now();
    let tok = await s.prefill(prompt);
    const prefillMs = performance.now() - tp;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const ts = performance.now();
      tok = await s.step(tok);
      times.push(performance.now() - ts);
      parts.push({ ...s.last });
    }
    return { times, parts, tokensPerS: steps / ((performance.now() - t0) / 1000), prefillMs, chained: s.chainStats.chainedSteps, fallbacks: s.chainStats.fallbacks };
  } finally {
    s.close();
  }
}

/**
 * Aggregate decode tokens/s of `concurrency` sessions stepping at once (prefills excluded), and the
 * CPU that cost: ms per token in this (router) process and in the hosts, and cores kept busy.
 */
async function measureConcurrent(p: Pipeline, path: string[], prompt: Uint8Array, sizes: DecodeSizes, hostPids: number[], chain: ChainMode = 'auto'):
  Promise<{ tokensPerS: number; routerCpuMsPerToken: number; hostsCpuMsPerToken: number; coresBusy: number }> {
  const rates: number[] = [];
  let tokens = 0, wallMs = 0, routerCpu = 0, hostsCpu = 0;
  // One untimed run first: the hosts have run nothing but lone steps so far, and their batched code
  // (and onnxruntime's first calls of each batch shape) runs several times slower at first.
  for (let r = -1; r < sizes.concurrentRepeats; r++) {
    const sessions = Array.from({ length: sizes.concurrency }, () => p.session(path, prompt.length + sizes.concurrentSteps + 1, chain));
    try {
      const first = await Promise.all(sessions.map((s) => s.prefill(prompt)));
      const cpu0 = process.cpuUsage();
      const hosts0 = hostPids.map(cpuMsOf);
      const t0 = performance.now();
      await Promise.all(sessions.map(async (s, k) => {
        let tok = first[k];
        for (let i = 0; i < sizes.concurrentSteps; i++) tok = await s.step(tok);
      }));
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (r < 0) continue;
      routerCpu += (cpu.user + cpu.system) / 1000;
      hostsCpu += hostPids.map(cpuMsOf).reduce((a, x, i) => a + x - hosts0[i], 0);
      const n = sizes.concurrency * sizes.concurrentSteps;
      tokens += n;
      wallMs += ms;
      rates.push(n / (ms / 1000));
    } finally {
      for (const s of sessions) s.close();
    }
  }
  return { tokensPerS: median(rates), routerCpuMsPerToken: routerCpu / tokens, hostsCpuMsPerToken: hostsCpu / tokens, coresBusy: (routerCpu + hostsCpu) / wallMs };
}
