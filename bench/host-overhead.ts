/**
 * What an expert host adds over a bare onnxruntime call of the same expert, and what batching gains.
 * Measured, never asserted: `measureHostOverhead(opts)` returns medians (ms) of
 *   - `bare_step_ms`: one decode step (T=1 at cache length `position`) of the expert in onnxruntime;
 *   - `core_step_ms`: the same step through the host's logic in process (KV cache, batcher), no network;
 *   - `host_step_ms`: the same step through a real host child process over loopback gRPC (a session);
 *   - `info_rtt_ms`: an empty unary call to that host (the transport floor);
 * and, for K concurrent sessions decoding in closed loops, aggregate tokens/s with batching
 * (`--max-batch 64`), without (`--max-batch 1`), and with a 1 ms batch wait (`--batch-wait-ms 1`).
 * Steps re-run at the same position (truncate + append), so every step costs the same.
 * Run directly: `node bench/host-overhead.ts [--quick] [--model DIR]` prints the JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHostCore } from '../expert-host/host-core.ts';
import { createExpertClient } from '../shared/grpc/client.ts';
import { silentLogger, type Logger } from '../shared/log.ts';
import { loadPackage } from '../shared/model/package.ts';
import { appendKv, createKvCache, maskOf, pastOf } from '../shared/model/kv-cache.ts';
import { openExpert } from '../shared/model/ort.ts';
import type { ExpertSession } from '../shared/transport-types.ts';
import { spawnReady } from './child-process.ts';

export interface HostOverheadOptions {
  /** Model package (default: a synthetic package of swarmpath-tiny's shape). */
  modelDir?: string;
  model?: string;
  quick?: boolean;
  log?: Logger;
  expertId?: string;
  /** Cache length of the measured decode step (default 16). */
  position?: number;
  /** Concurrent session counts for the batching figures (default [1, 4, 16, 32]). */
  concurrency?: number[];
}

export interface BatchingRow {
  sessions: number;
  tokens_per_s_batched: number;
  tokens_per_s_unbatched: number;
  tokens_per_s_wait1ms: number;
  step_ms_batched: number;
  step_ms_unbatched: number;
  step_ms_wait1ms: number;
  /** tokens_per_s_batched / tokens_per_s_unbatched. */
  gain: number;
}

export interface HostOverheadResult {
  model: string;
  expert: string;
  d_model: number;
  layers: number;
  position: number;
  iters: number;
  bare_step_ms: number;
  core_step_ms: number;
  host_step_ms: number;
  info_rtt_ms: number;
  /** host_step_ms - bare_step_ms. */
  host_overhead_ms: number;
  /** core_step_ms - bare_step_ms: the host's own logic, without gRPC. */
  core_overhead_ms: number;
  batching: BatchingRow[];
  /**
   * In process (no network), K=16 sessions decoding at a long cache length: tokens/s with the default
   * padded-cache bound, with no bound (one batch of 16), and serially (batches of 1).
   */
  long_context: { position: number; sessions: number; tokens_per_s_default: number; tokens_per_s_unbounded: number; tokens_per_s_serial: number };
}

const BIN = fileURLToPath(new URL('../bin/swarmpath.js', import.meta.url));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
const dl = () => ({ deadlineMs: Date.now() + 30_000 });

async function timeEach(n: number, warm: number, f: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < warm; i++) await f();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) { const t0 = performance.now(); await f(); ts.push(performance.now() - t0); }
  return median(ts);
}

/** Measures the host's per-step overhead and the batching gain (see the file comment). */
export async function measureHostOverhead(opts: HostOverheadOptions = {}): Promise<HostOverheadResult> {
  const log = opts.log ?? silentLogger;
  let dir = opts.modelDir ?? opts.model;
  let tmp: string | undefined;
  if (!dir) {
    tmp = mkdtempSync(join(tmpdir(), 'swarmpath-host-overhead-'));
    const { synthPackage } = await import('../shared/model/synth.ts');
    await synthPackage({ out: tmp, dModel: 128, heads: 4, layers: 2, levels: [2, 2], maxContext: 1024, seed: 7, name: 'bench-synth' });
    dir = tmp;
  }
  const children: { stop(): Promise<void> }[] = [];
  try {
    const pkg = await loadPackage(dir);
    const { dims } = pkg.manifest;
    const expertId = opts.expertId ?? pkg.manifest.levels[0].experts[0].id;
    const entry = pkg.expert(expertId);
    const P = opts.position ?? 16;
    const iters = opts.quick ? 150 : 600;
    const D = dims.d_model;
    const fpp = entry.layers * 2 * dims.n_heads * dims.head_dim;
    const rnd = (n: number, s: number) => new Float32Array(n).map((_, i) => Math.sin(s + i * 0.01));
    const hidden = { data: rnd(D, 1), dims: [1, 1, D] };
    const prefix = { data: rnd(P * D, 2), dims: [1, P, D] };

    // Bare onnxruntime.
    const model = await openExpert(pkg, expertId);
    const cache = createKvCache({ layers: entry.layers, nHeads: dims.n_heads, headDim: dims.head_dim }, P + 1);
    appendKv(cache, rnd(P * fpp, 3), P);
    const past = pastOf(cache);
    const mask = maskOf(cache, 1);
    const bare = await timeEach(iters, 30, () => model.run(hidden, past, mask));
    log.info(`host overhead: bare onnxruntime step ${bare.toFixed(4)} ms`);

    // The host's logic in process.
    const core = createHostCore({
      modelName: pkg.manifest.name, dims, experts: [{ model, shardPath: pkg.filePath(entry.file) }], kvCapacityBytes: 1 << 30,
      sessionIdleMs: 600_000, maxBatch: 64, batchWaitMs: 0, version: 'bench', device: model.device,
    });
    const cs = core.openSession(expertId, P + 1);
    await core.step(cs, 0, prefix);
    const coreStep = await timeEach(iters, 30, () => core.step(cs, P, hidden));
    core.closeSession(cs.id);

    // Real host processes over loopback gRPC.
    const spawnHost = async (extra: string[]) => {
      const c = await spawnReady(process.execPath, [BIN, 'host', '--model', dir!, '--expert', expertId, '--no-dht', '--kv-cache-mb', '2048', ...extra], { name: 'host' });
      children.push(c);
      return c;
    };
    const batched = await spawnHost(['--max-batch', '64']);
    const client = createExpertClient(String(batched.ready.grpc));
    const info = await timeEach(iters, 30, () => client.info(dl()));
    const s = await client.openSession(expertId, P + 1, dl());
    await s.step(prefix, 0, dl());
    const hostStep = await timeEach(iters, 30, () => s.step(hidden, P, dl()));
    s.close();
    log.info(`host overhead: host step ${hostStep.toFixed(4)} ms (bare ${bare.toFixed(4)} ms, info ${info.toFixed(4)} ms)`);

    const unbatched = await spawnHost(['--max-batch', '1']);
    const waiting = await spawnHost(['--max-batch', '64', '--batch-wait-ms', '1']);
    const clients = { batched: client, unbatched: createExpertClient(String(unbatched.ready.grpc)), waiting: createExpertClient(String(waiting.ready.grpc)) };
    const steps = opts.quick ? 30 : 100;
    const closedLoop = async (c: typeof client, K: number) => {
      const sessions: ExpertSession[] = await Promise.all(Array.from({ length: K }, () => c.openSession(expertId, P + 1, dl())));
      await Promise.all(sessions.map((x) => x.step(prefix, 0, dl())));
      await Promise.all(sessions.map(async (x) => { for (let i = 0; i < 5; i++) await x.step(hidden, P, dl()); }));
      const lat: number[] = [];
      const t0 = performance.now();
      await Promise.all(sessions.map(async (x) => {
        for (let i = 0; i < steps; i++) { const a = performance.now(); await x.step(hidden, P, dl()); lat.push(performance.now() - a); }
      }));
      const seconds = (performance.now() - t0) / 1000;
      for (const x of sessions) x.close();
      return { tps: (K * steps) / seconds, stepMs: median(lat) };
    };
    const batching: BatchingRow[] = [];
    for (const K of opts.concurrency ?? (opts.quick ? [1, 16] : [1, 4, 16, 32])) {
      const b = await closedLoop(clients.batched, K);
      const u = await closedLoop(clients.unbatched, K);
      const w = await closedLoop(clients.waiting, K);
      batching.push({
        sessions: K, tokens_per_s_batched: round(b.tps, 1), tokens_per_s_unbatched: round(u.tps, 1), tokens_per_s_wait1ms: round(w.tps, 1),
        step_ms_batched: round(b.stepMs), step_ms_unbatched: round(u.stepMs), step_ms_wait1ms: round(w.stepMs), gain: round(b.tps / u.tps, 2),
      });
      log.info(`host overhead: ${K} sessions: ${b.tps.toFixed(0)} tok/s batched, ${u.tps.toFixed(0)} unbatched, ${w.tps.toFixed(0)} with 1 ms wait`);
    }
    for (const c of Object.values(clients)) c.close();

    // Long caches, in process: the padded-cache bound against unbounded and serial batching.
    const longP = Math.min(480, dims.max_context - 1);
    const longRun = async (maxBatch: number, maxBatchKvBytes?: number) => {
      const k = createHostCore({
        modelName: pkg.manifest.name, dims, experts: [{ model, shardPath: '' }], kvCapacityBytes: 1 << 30,
        sessionIdleMs: 600_000, maxBatch, batchWaitMs: 0, maxBatchKvBytes, version: 'bench', device: model.device,
      });
      const ss = Array.from({ length: 16 }, () => k.openSession(expertId, longP + 1));
      for (const x of ss) await k.step(x, 0, { data: rnd(longP * D, 4), dims: [1, longP, D] });
      const rounds = opts.quick ? 5 : 20;
      for (let r = 0; r < 2; r++) await Promise.all(ss.map((x) => k.step(x, longP, hidden)));
      const t0 = performance.now();
      for (let r = 0; r < rounds; r++) await Promise.all(ss.map((x) => k.step(x, longP, hidden)));
      return round((16 * rounds) / ((performance.now() - t0) / 1000), 1);
    };
    const long_context = {
      position: longP, sessions: 16,
      tokens_per_s_default: await longRun(64), tokens_per_s_unbounded: await longRun(64, 2 ** 50), tokens_per_s_serial: await longRun(1),
    };
    await model.release();
    return {
      model: pkg.manifest.name, expert: expertId, d_model: D, layers: entry.layers, position: P, iters,
      bare_step_ms: round(bare), core_step_ms: round(coreStep), host_step_ms: round(hostStep), info_rtt_ms: round(info),
      host_overhead_ms: round(hostStep - bare), core_overhead_ms: round(coreStep - bare), batching, long_context,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const m = args.indexOf('--model');
  const r = await measureHostOverhead({ quick: args.includes('--quick'), modelDir: m >= 0 ? args[m + 1] : undefined });
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
