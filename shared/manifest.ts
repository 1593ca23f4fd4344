/**
 * Types of a model package, format `swarmpath-model/1` (docs/model-format.md is the normative text).
 * Types only: validation lives in shared/model/manifest-schema.ts. Field names are the JSON's own.
 */

export const MODEL_FORMAT = 'swarmpath-model/1';

/** A file of the package, relative to the package folder, with its sha256 (hex) and size in bytes. */
export interface FileRef {
  file: string;
  sha256: string;
  bytes: number;
}

/** Checks that a host really serves an expert: a reproducible input and the output's fingerprint. */
export interface ExpertProbe {
  /** mulberry32 seed of the probe input (docs/model-format.md, "Probes"). */
  seed: number;
  /** Sequence length T of the probe input [1, T, d_model]. */
  tokens: number;
  /** Projections of the output on 8 pseudo-random vectors; compared with relative tolerance. */
  fingerprint: number[];
}

export interface ExpertEntry extends FileRef {
  /** `<level>.<index>`, e.g. `L0.3`. */
  id: string;
  /** Transformer blocks in this expert (L in the KV layout). */
  layers: number;
  probe: ExpertProbe;
}

export interface LevelEntry {
  /** `L0`, `L1`, … in order. */
  name: string;
  experts: ExpertEntry[];
}

export interface ModelDims {
  d_model: number;
  n_heads: number;
  head_dim: number;
  vocab_size: number;
  /** Longest sequence (prompt + generated) a session may hold. */
  max_context: number;
}

export interface HashedNgramFeaturizer {
  type: 'hashed-ngrams/1';
  /** Only the first `prefix_bytes` bytes of the prompt are read. */
  prefix_bytes: number;
  /** n-gram orders counted, e.g. [1, 2, 3]. */
  orders: number[];
  /** Feature dimension F. */
  buckets: number;
}

export interface RouterSpec {
  featurizer: HashedNgramFeaturizer;
  /** C x F k-means centroids, one per cluster. */
  centroids: number[][];
  /** Cluster c runs path `paths[c]` (one expert id per level). */
  paths: string[][];
  /** Optional discriminative step: cluster = argmax(W f + b), W is C x F. */
  classifier?: { weights: number[][]; bias: number[] };
}

export interface EvalSpec {
  /** JSON lines `{"domain": string, "text": string}`, one held-out document a line. */
  heldout: FileRef;
  /** A dense model of one path's size trained on the same tokens, for the eval table. */
  dense?: { stem: FileRef; blocks: FileRef; head: FileRef; layers: number };
}

export interface Manifest {
  format: typeof MODEL_FORMAT;
  name: string;
  description?: string;
  tokenizer: { type: 'bytes/1'; vocab_size: number };
  dims: ModelDims;
  stem: FileRef;
  head: FileRef;
  levels: LevelEntry[];
  router: RouterSpec;
  eval?: EvalSpec;
  /** Free-form provenance (training recipe, seeds, corpus); never read by the runtime. */
  training?: Record<string, unknown>;
}

/** A path: one expert id per level, in level order. */
export type Path = readonly string[];
