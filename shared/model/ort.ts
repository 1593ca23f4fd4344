/**
 * onnxruntime-node sessions and the three typed model wrappers (stem, expert, head). Files are
 * verified (size + sha256) before they are opened. `device: 'cuda'` uses the CUDA execution provider
 * when the diagnosis (cuda-diagnosis.ts, the same one `swarmpath doctor` prints) finds nothing
 * missing and onnxruntime agrees; otherwise it runs on the CPU after one warn line per process that
 * says why. The wrapper's `device` says what is used.
 * Tensors stay typed arrays: inputs wrap the caller's buffers, outputs are onnxruntime's buffers.
 */
import * as ort from 'onnxruntime-node';
import type { ExpertEntry, ModelDims } from '../manifest.ts';
import type { Device, ExpertModel, F32, ModelPackage } from '../runtime-types.ts';
import { silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { BadPackageError } from '../errors.ts';
import type { FileRef } from '../manifest.ts';
import { cudaVerdict, unavailableReason } from './cuda-diagnosis.ts';
import { gatherCudaFacts } from './cuda-facts.ts';
import { verifyFile } from './package.ts';

export interface SessionOptions {
  device?: Device;
  log?: Logger;
  /** onnxruntime intra-op threads (default 1: fastest for small matmuls on few cores, see README of shared/model). */
  threads?: number;
  /** Skip the sha256 check (the caller verified the file already). */
  skipVerify?: boolean;
  /** CUDA device ordinal (default 0; CUDA_VISIBLE_DEVICES renumbers). */
  deviceId?: number;
  /**
   * Let cuBLAS use TF32 for float32 matrix products (default false: full float32, so that experts
   * reproduce their manifest probes, checked to 1e-3 relative). onnxruntime-node passes only the
   * device id to the CUDA provider (no `use_tf32` option), so this is done with NVIDIA's
   * NVIDIA_TF32_OVERRIDE=0, set before the process's first CUDA session unless already set; the
   * first CUDA session of a process decides for all.
   */
  tf32?: boolean;
}

export interface OpenSession {
  session: ort.InferenceSession;
  /** The device actually used. */
  device: Device;
}

/** Why CUDA is not used in this process, once known (diagnosis or onnxruntime's refusal). */
let cudaUnavailable: string | undefined;
let cudaChecked: Promise<void> | undefined;
/** False when the diagnosis saw no NVIDIA GPU (named when onnxruntime then refuses). */
let gpuSeen = true;
let warned = false;

/** Creates an InferenceSession on `device`, falling back from CUDA to CPU with one warn line per process. */
export async function createSession(source: string | Uint8Array, opts: SessionOptions = {}): Promise<OpenSession> {
  const log = opts.log ?? silentLogger;
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: opts.threads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
  if (opts.device === 'cuda') {
    cudaChecked ??= checkCuda(opts.tf32 ?? false);
    await cudaChecked;
    if (cudaUnavailable === undefined) {
      try {
        const session = await create(source, { ...base, logSeverityLevel: 4, executionProviders: [{ name: 'cuda', deviceId: opts.deviceId ?? 0 }] });
        return { session, device: 'cuda' };
      } catch (err) {
        cudaUnavailable = `onnxruntime: ${(err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300)}` +
          (gpuSeen ? '' : '; no NVIDIA GPU seen');
      }
    }
    if (!warned) {
      warned = true;
      log.warn(`CUDA execution provider unavailable (${cudaUnavailable}); running on CPU`);
    }
  }
  return { session: await create(source, { ...base, executionProviders: ['cpu'] }), device: 'cpu' };
}

/**
 * Runs the diagnosis once per process: when something is known to be missing, CUDA is not tried
 * (onnxruntime would print its own error and fail anyway). When the diagnosis itself fails, onnxruntime tries.
 */
async function checkCuda(tf32: boolean): Promise<void> {
  try {
    const verdict = cudaVerdict(await gatherCudaFacts({ backends: ort.listSupportedBackends() }));
    if (verdict.type === 'unavailable') {
      cudaUnavailable = unavailableReason(verdict);
      return;
    }
    gpuSeen = verdict.gpuSeen;
  } catch {
    // Layout unknown: let onnxruntime try.
  }
  if (!tf32 && process.env.NVIDIA_TF32_OVERRIDE === undefined) process.env.NVIDIA_TF32_OVERRIDE = '0';
}

function create(source: string | Uint8Array, o: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof source === 'string' ? ort.InferenceSession.create(source, o) : ort.InferenceSession.create(source, o);
}

async function openFile(pkg: ModelPackage, ref: FileRef, opts: SessionOptions): Promise<OpenSession> {
  const path = opts.skipVerify ? pkg.filePath(ref.file) : await verifyFile(pkg, ref);
  try {
    return await createSession(path, opts);
  } catch (err) {
    throw new BadPackageError(`package ${pkg.manifest.name}: onnxruntime cannot load ${ref.file}: ${(err as Error).message}`, err);
  }
}

function f32(t: ort.Tensor | undefined, name: string): F32 {
  if (!t || t.type !== 'float32') throw new BadPackageError(`model output ${name} missing or not float32`);
  return { data: t.data as Float32Array, dims: t.dims };
}

/** The names of an expert's `past_*` inputs, layer by layer: past_key_0, past_value_0, past_key_1, … */
export function pastInputNames(layers: number): string[] {
  const names: string[] = [];
  for (let l = 0; l < layers; l++) names.push(`past_key_${l}`, `past_value_${l}`);
  return names;
}

/** Refuses an expert file whose inputs or outputs are not the contract's (docs/model-format.md). */
function checkExpertIo(file: string, layers: number, s: OpenSession): void {
  const want = ['hidden', 'mask', ...pastInputNames(layers)];
  const got = s.session.inputNames;
  const outs = s.session.outputNames;
  const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
  if (!same(got, want) || !same(outs, ['hidden_out', 'new_kv'])) {
    void s.session.release();
    throw new BadPackageError(`${file} is not an expert of this format: it has inputs [${got.join(', ')}] and outputs ` +
      `[${outs.join(', ')}]; a ${layers}-layer expert has inputs [${want.join(', ')}] and outputs [hidden_out, new_kv] ` +
      '(docs/model-format.md; a package exported with one position-major past_kv input must be re-exported)');
  }
}

/** Wraps an expert-shaped session (hidden, mask, past_* → hidden_out, new_kv). Also used for the dense blocks. */
export function expertModel(entry: ExpertEntry, s: OpenSession, dims: Pick<ModelDims, 'n_heads' | 'head_dim'>): ExpertModel {
  checkExpertIo(entry.file, entry.layers, s);
  const { n_heads: H, head_dim: Dh } = dims;
  const names = pastInputNames(entry.layers);
  return {
    entry,
    device: s.device,
    async run(hidden, past, mask) {
      const feeds: Record<string, ort.Tensor> = {
        hidden: new ort.Tensor('float32', hidden.data, hidden.dims),
        mask: new ort.Tensor('float32', mask.data, mask.dims),
      };
      const pastDims = [past.rows, H, past.slots, Dh];
      for (let l = 0; l < entry.layers; l++) {
        feeds[names[2 * l]] = new ort.Tensor('float32', past.keys[l], pastDims);
        feeds[names[2 * l + 1]] = new ort.Tensor('float32', past.values[l], pastDims);
      }
      const out = await s.session.run(feeds);
      return { hiddenOut: f32(out.hidden_out, 'hidden_out'), newKv: f32(out.new_kv, 'new_kv') };
    },
    release: () => s.session.release(),
  };
}

/** Opens expert `id` of the package (verifying its file). */
export async function openExpert(pkg: ModelPackage, id: string, opts: SessionOptions = {}): Promise<ExpertModel> {
  const entry = pkg.expert(id);
  return expertModel(entry, await openFile(pkg, entry, opts), pkg.manifest.dims);
}

/** The stem: token and absolute position ids → hidden states. */
export interface StemModel {
  readonly device: Device;
  /** `tokens`, `positions`: B*T ids, row-major [B,T]. Resolves `hidden` [B,T,D]. */
  run(tokens: BigInt64Array, positions: BigInt64Array, B: number, T: number): Promise<F32>;
  release(): Promise<void>;
}

/** The head: hidden states → logits. */
export interface HeadModel {
  readonly device: Device;
  /** `hidden` [B,T,D] → `logits` [B,T,V]. */
  run(hidden: F32): Promise<F32>;
  release(): Promise<void>;
}

/** Opens a stem file (the package's own by default, or e.g. the dense baseline's). */
export async function openStem(pkg: ModelPackage, opts: SessionOptions = {}, ref: FileRef = pkg.manifest.stem): Promise<StemModel> {
  const s = await openFile(pkg, ref, opts);
  return {
    device: s.device,
    async run(tokens, positions, B, T) {
      const out = await s.session.run({
        tokens: new ort.Tensor('int64', tokens, [B, T]),
        positions: new ort.Tensor('int64', positions, [B, T]),
      });
      return f32(out.hidden, 'hidden');
    },
    release: () => s.session.release(),
  };
}

/** Opens a head file (the package's own by default). */
export async function openHead(pkg: ModelPackage, opts: SessionOptions = {}, ref: FileRef = pkg.manifest.head): Promise<HeadModel> {
  const s = await openFile(pkg, ref, opts);
  return {
    device: s.device,
    async run(hidden) {
      const out = await s.session.run({ hidden: new ort.Tensor('float32', hidden.data, hidden.dims) });
      return f32(out.logits, 'logits');
    },
    release: () => s.session.release(),
  };
}

/** Opens the dense baseline's blocks (`eval.dense.blocks`) as an expert-shaped model. */
export async function openDenseBlocks(pkg: ModelPackage, opts: SessionOptions = {}): Promise<ExpertModel> {
  const dense = pkg.manifest.eval?.dense;
  if (!dense) throw new BadPackageError(`package ${pkg.manifest.name} has no eval.dense`);
  const entry: ExpertEntry = { id: 'dense', ...dense.blocks, layers: dense.layers, probe: { seed: 0, tokens: 1, fingerprint: [] } };
  return expertModel(entry, await openFile(pkg, dense.blocks, opts), pkg.manifest.dims);
}
