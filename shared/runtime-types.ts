/**
 * Contracts of the local model runtime (implemented in shared/model/), used by hosts, the router,
 * eval and bench. Types only. Shapes follow docs/model-format.md, "ONNX contract".
 */
import type { ExpertEntry, Manifest, Path } from './manifest.ts';

export type Device = 'cpu' | 'cuda';

/** A float32 tensor: a typed array and its row-major shape. */
export interface F32 {
  data: Float32Array;
  dims: readonly number[];
}

/**
 * The cached keys and values of an expert call: for each layer l, `keys[l]` and `values[l]`, each
 * [rows, H, slots, Dh] row-major (the `past_key_l` / `past_value_l` inputs). `slots` may be 0.
 */
export interface PastKv {
  rows: number;
  slots: number;
  keys: readonly Float32Array[];
  values: readonly Float32Array[];
}

/** One expert loaded in onnxruntime. */
export interface ExpertModel {
  readonly entry: ExpertEntry;
  readonly device: Device;
  /**
   * Runs the expert. `hidden` [B,T,D]; `past` B rows of C slots (C may be 0); `mask` [B,C+T].
   * Resolves `hiddenOut` [B,T,D] and `newKv` [B,L,2,H,T,Dh].
   */
  run(hidden: F32, past: PastKv, mask: F32): Promise<{ hiddenOut: F32; newKv: F32 }>;
  release(): Promise<void>;
}

/** A loaded, verified package. Experts are opened on demand (a host opens only its own). */
export interface ModelPackage {
  readonly dir: string;
  readonly manifest: Manifest;
  /** The expert entry for `id`, or throws UnknownExpertError. */
  expert(id: string): ExpertEntry;
  /** Absolute path of a package file. */
  filePath(rel: string): string;
}
export type { Path };
