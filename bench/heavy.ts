/**
 * The `heavy` scenario (issue 12): the decode loop of the `decode` scenario on a compute-bound model.
 * Synthesizes a random-weight package (heavy-figures.ts: d_model 1024, two levels) into a temporary
 * folder, starts one real `swarmpath host` process per expert of the path, and times decode steps of
 * the whole path in one process (MonolithicRunner, the floor) against the same steps through the
 * router's pipeline over loopback gRPC, in interleaved rounds so that other load on the machine hits
 * both alike. Also a bare gRPC echo of one position's activations, and the CPU each side spent per
 * step, to say where the swarm's extra time goes. Removes the package when done.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../shared/log.ts';
import { loadPackage } from '../shared/model/package.ts';
import { choosePath } from '../shared/model/path-choice.ts';
import { createMonolithicRunner } from '../shared/model/monolithic.ts';
import type { MonolithicRunner } from '../shared/model/monolithic.ts';
import { synthPackage } from '../shared/model/synth.ts';
import { cpuMsOf, rssMbOf } from './child-process.ts';
import { monolithicSteps, promptOf, swarmSteps } from './decode.ts';
import { openGrpcEcho } from './grpc-echo.ts';
import type { EchoBench } from './grpc-echo.ts';
import { heavyFigures, heavyShape } from './heavy-figures.ts';
import type { HeavyFigures, HeavyShape, HeavySizes } from './heavy-figures.ts';
import { startLocalHost, staticDiscovery } from './local-hosts.ts';
import type { LocalHost } from './local-hosts.ts';
import { openPipeline } from './swarm-pipeline.ts';
import type { Pipeline } from './swarm-pipeline.ts';

export interface HeavyInit {
  sizes: HeavySizes;
  /** Fields to change in HEAVY_SHAPE (tests shrink the model). */
  shape?: Partial<HeavyShape>;
  /** Extra flags for every host started. */
  hostArgs?: readonly string[];
  log: Logger;
}

export interface HeavyResult extends HeavyFigures {
  /** The synthesized model's dims and the path benchmarked. */
  heavy_dims: { d_model: number; n_heads: number; layers_per_expert: number; levels: number[]; max_context: number; path: string[] };
  /** CPU per decode step, ms: this process during monolithic steps; this (router) process and all hosts during swarm steps. */
  heavy_cpu_per_step: { monolithic_ms: number; router_ms: number; hosts_ms: number };
  heavy_host_rss_mb: number;
  /** Seconds spent writing the random-weight package (not part of any figure). */
  heavy_synth_s: number;
}

const PROMPT_TOKENS = 16;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export async function runHeavy(init: HeavyInit): Promise<HeavyResult> {
  const { sizes, log } = init;
  const shape = heavyShape(init.shape, PROMPT_TOKENS, sizes);
  const dir = mkdtempSync(join(tmpdir(), 'swarmpath-heavy-'));
  try {
    const t0 = performance.now();
    await synthPackage({ out: dir, dModel: shape.dModel, heads: shape.heads, layers: shape.layers, levels: shape.levels, maxContext: shape.maxContext, seed: shape.seed, name: 'bench-heavy' });
    const heavy_synth_s = Math.round((performance.now() - t0) / 100) / 10;
    log.info('heavy model written', { ...shape, synth_s: heavy_synth_s });
    return { ...await measure(dir, shape, init), heavy_synth_s };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(dir: string, shape: HeavyShape, init: HeavyInit): Promise<Omit<HeavyResult, 'heavy_synth_s'>> {
  const { sizes, log } = init;
  const pkg = await loadPackage(dir);
  const prompt = promptOf(PROMPT_TOKENS);
  const path = [...choosePath(pkg.manifest.router, prompt).path];
  const hosts: LocalHost[] = [];
  let pipeline: Pipeline | undefined;
  let mono: MonolithicRunner | undefined;
  let echo: EchoBench | undefined;
  try {
    hosts.push(...await Promise.all(path.map((id) => startLocalHost(dir, [id], init.hostArgs ?? []))));
    [mono, echo, pipeline] = await Promise.all([
      createMonolithicRunner({ pkg, path, threads: 1 }), openGrpcEcho(4 * shape.dModel),
      openPipeline(pkg, staticDiscovery(pkg.manifest.name, hosts)),
    ]);
    const s = { mono: [] as number[], swarm: [] as number[], chain: [] as number[], echo: [] as number[], stem: [] as number[], stages: [] as number[], head: [] as number[] };
    const cpu = { mono: 0, router: 0, hosts: 0 };
    const pids = hosts.map((h) => h.child.pid);
    for (let r = -1; r < sizes.repeats; r++) {
      const c0 = process.cpuUsage();
      const m = await monolithicSteps(mono, prompt, sizes.steps);
      const cm = process.cpuUsage(c0);
      const c1 = process.cpuUsage(), h1 = pids.map(cpuMsOf);
      const w = await swarmSteps(pipeline, path, prompt, sizes.steps);
      const cw = process.cpuUsage(c1), h2 = pids.map(cpuMsOf);
      const wc = await swarmSteps(pipeline, path, prompt, sizes.steps, 'on');
      const e: number[] = [];
      for (let i = 0; i < Math.ceil(sizes.echoCalls / sizes.repeats); i++) e.push(await echo.time());
      if (r < 0) continue; // warm-up round
      s.chain.push(...wc.times);
      cpu.mono += (cm.user + cm.system) / 1000;
      cpu.router += (cw.user + cw.system) / 1000;
      cpu.hosts += h2.reduce((a, x, i) => a + x - h1[i], 0);
      s.mono.push(...m.times);
      s.swarm.push(...w.times);
      s.echo.push(...e);
      s.stem.push(...w.parts.map((x) => x.stemMs));
      s.stages.push(...w.parts.map((x) => x.stagesMs));
      s.head.push(...w.parts.map((x) => x.headMs));
    }
    const figures = heavyFigures(s, path.length, shape.dModel);
    log.info('heavy steps timed', { ...figures });
    const steps = sizes.steps * sizes.repeats;
    return {
      ...figures,
      heavy_dims: { d_model: shape.dModel, n_heads: shape.heads, layers_per_expert: shape.layers, levels: [...shape.levels], max_context: shape.maxContext, path },
      heavy_cpu_per_step: { monolithic_ms: r3(cpu.mono / steps), router_ms: r3(cpu.router / steps), hosts_ms: r3(cpu.hosts / steps) },
      heavy_host_rss_mb: Math.max(...pids.map(rssMbOf)),
    };
  } finally {
    await mono?.release();
    await echo?.close();
    await pipeline?.close();
    await Promise.all(hosts.map((h) => h.child.stop()));
  }
}
