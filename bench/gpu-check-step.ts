/**
 * One expert on one device, as a host runs it: opens it through shared/model/ort.ts, measures how far
 * its probe fingerprint is from the manifest's, then times batched decode steps (B sessions, one new
 * token each, over a cache of P past positions, the host's padded [B,H,P,Dh] layout). Used by
 * bench/gpu-check.sh on a GPU machine; runs anywhere with `--device cpu`.
 *
 *   node bench/gpu-check-step.ts --model DIR [--expert ID] --device cpu|cuda [--batch 32] [--past 128]
 *     [--steps 20] [--warmup 3] [--threads N] [--tf32] [--out FILE]
 *
 * Prints (and writes to --out) one JSON object: the device actually used, open time, probe error, and
 * step times (median, p90) with past = 0 (compute only) and past = P (the inputs a real step copies).
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseFlags, type FlagSpecs } from '../shared/cli-args.ts';
import { createLogger } from '../shared/log.ts';
import { loadPackage } from '../shared/model/package.ts';
import { openExpert } from '../shared/model/ort.ts';
import { computeFingerprint } from '../shared/model/probe.ts';
import { mulberry32 } from '../shared/model/rng.ts';
import type { ExpertModel, PastKv } from '../shared/runtime-types.ts';

const FLAGS = {
  model: { kind: 'string', help: 'model package folder' },
  expert: { kind: 'string', help: 'expert id (default: the first)' },
  device: { kind: 'string', help: 'device', default: 'cpu', choices: ['cpu', 'cuda'] },
  batch: { kind: 'int', help: 'sessions per step', default: 32, min: 1 },
  past: { kind: 'int', help: 'cached positions per session', default: 128, min: 0 },
  steps: { kind: 'int', help: 'timed steps per case', default: 20, min: 1 },
  warmup: { kind: 'int', help: 'untimed steps first', default: 3, min: 0 },
  threads: { kind: 'int', help: 'onnxruntime intra-op threads (CPU)', default: availableParallelism(), min: 1 },
  tf32: { kind: 'boolean', help: 'allow TF32 on the GPU (default: full float32)', default: false },
  out: { kind: 'string', help: 'also write the JSON here' },
} as const satisfies FlagSpecs;

export interface StepTimes { past: number; median_ms: number; p90_ms: number; min_ms: number }

/** Median, p90 and min of `ms` (sorted copy). */
export function summarize(past: number, ms: readonly number[]): StepTimes {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { past, median_ms: r(at(0.5)), p90_ms: r(at(0.9)), min_ms: r(s[0]) };
}

/** Random inputs of one batched decode step: hidden [B,1,D], past [B,H,P,Dh] per layer, mask [B,P+1] of ones. */
function stepInputs(model: ExpertModel, B: number, P: number, dims: { d_model: number; n_heads: number; head_dim: number }) {
  const u = mulberry32(7);
  const rand = (n: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = u() - 0.5; return a; };
  const L = model.entry.layers;
  const n = B * dims.n_heads * P * dims.head_dim;
  const past: PastKv = { rows: B, slots: P, keys: Array.from({ length: L }, () => rand(n)), values: Array.from({ length: L }, () => rand(n)) };
  return {
    hidden: { data: rand(B * dims.d_model), dims: [B, 1, dims.d_model] },
    past,
    mask: { data: new Float32Array(B * (P + 1)).fill(1), dims: [B, P + 1] },
  };
}

async function timeSteps(model: ExpertModel, inputs: ReturnType<typeof stepInputs>, warmup: number, steps: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await model.run(inputs.hidden, inputs.past, inputs.mask);
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await model.run(inputs.hidden, inputs.past, inputs.mask);
    ms.push(performance.now() - t);
  }
  return ms;
}

export interface MeasureOptions {
  model: string;
  expert?: string;
  device: 'cpu' | 'cuda';
  batch: number;
  past: number;
  steps: number;
  warmup: number;
  threads: number;
  tf32: boolean;
}

/** Opens the expert on the device, checks its probe, times the steps; releases it. */
export async function measure(o: MeasureOptions): Promise<Record<string, unknown>> {
  const pkg = await loadPackage(o.model);
  const id = o.expert ?? pkg.manifest.levels[0].experts[0].id;
  const dims = pkg.manifest.dims;
  const t0 = performance.now();
  const model = await openExpert(pkg, id, { device: o.device, threads: o.threads, tf32: o.tf32, log: createLogger('gpu-check-step') });
  const openMs = performance.now() - t0;
  try {
    const probe = pkg.expert(id).probe;
    const got = await computeFingerprint(model, probe.seed, probe.tokens, dims);
    const probeErr = Math.max(...probe.fingerprint.map((w, k) => Math.abs(got[k] - w) / Math.max(1, Math.abs(w))));
    const cases: StepTimes[] = [];
    for (const P of [...new Set([0, o.past])]) {
      cases.push(summarize(P, await timeSteps(model, stepInputs(model, o.batch, P, dims), o.warmup, o.steps)));
    }
    const atPast = cases[cases.length - 1];
    return {
      device_requested: o.device, device: model.device, expert: id, d_model: dims.d_model, layers: model.entry.layers,
      batch: o.batch, threads: o.threads, tf32: o.tf32, nvidia_tf32_override: process.env.NVIDIA_TF32_OVERRIDE ?? null,
      open_ms: Math.round(openMs), probe_max_rel_err: probeErr, probe_ok: probeErr <= 1e-3,
      step_ms: atPast.median_ms, tokens_per_s: Math.round((o.batch / atPast.median_ms) * 1000 * 10) / 10, cases,
    };
  } finally {
    await model.release();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { flags: f } = parseFlags(argv, FLAGS);
  if (!f.model) throw new Error('--model DIR is required');
  const result = await measure({ ...f, model: f.model });
  const text = JSON.stringify(result);
  if (f.out) writeFileSync(f.out, text + '\n');
  process.stdout.write(text + '\n');
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  await main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`gpu-check-step: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
