/**
 * The real RouterRuntime over shared/model: the package's tokenizer (`bytes/1`), stem and head in
 * onnxruntime-node, the manifest's path choice, and the same sampler and seeded rng as the
 * MonolithicRunner (createRng(seed), one draw per sampled token), so that a seeded distributed
 * generation reproduces the monolithic one. Decode steps of concurrent requests (one token, one
 * position each) share stem and head calls (row-batcher.ts); prefills run alone.
 */
import type { Device, F32, ModelPackage } from '../shared/runtime-types.ts';
import type { Logger } from '../shared/log.ts';
import { openHead, openStem } from '../shared/model/ort.ts';
import { choosePath } from '../shared/model/path-choice.ts';
import { createRng } from '../shared/model/rng.ts';
import { sampleToken } from '../shared/model/sampling.ts';
import { createStreamDecoder, encode } from '../shared/model/tokenizer.ts';
import type { RouterRuntime } from './runtime.ts';
import { createRowBatcher } from './row-batcher.ts';

/** Default rows of one batched stem or head call (the router's --max-batch default). */
export const DEFAULT_MAX_BATCH_ROWS = 64;

export interface ModelRuntimeInit {
  pkg: ModelPackage;
  device?: Device;
  threads?: number;
  log?: Logger;
  /** Most decode steps of concurrent requests in one stem or head call (default 64; 1: none shared). */
  maxBatchRows?: number;
}

export interface ModelRuntime extends RouterRuntime {
  /** Histograms of batched decode calls: rows → calls run, for the stem and the head. */
  batchSizes(): { stem: ReadonlyMap<number, number>; head: ReadonlyMap<number, number> };
}

interface StemRow { token: number; position: number }

/** Opens stem and head (verifying their files) and returns the runtime. */
export async function openModelRuntime(init: ModelRuntimeInit): Promise<ModelRuntime> {
  const { pkg } = init;
  const o = { device: init.device, threads: init.threads, log: init.log };
  const [stem, head] = await Promise.all([openStem(pkg, o), openHead(pkg, o)]);
  const V = pkg.manifest.dims.vocab_size;
  const D = pkg.manifest.dims.d_model;
  const maxRows = init.maxBatchRows ?? DEFAULT_MAX_BATCH_ROWS;
  const stemRows = createRowBatcher<StemRow, F32>({
    maxRows,
    async runBatch(rows) {
      const B = rows.length;
      const ids = new BigInt64Array(B);
      const positions = new BigInt64Array(B);
      rows.forEach((r, b) => { ids[b] = BigInt(r.token); positions[b] = BigInt(r.position); });
      const out = await stem.run(ids, positions, B, 1);
      return rows.map((_, b) => ({ data: out.data.slice(b * D, (b + 1) * D), dims: [1, 1, D] }));
    },
  });
  const headRows = createRowBatcher<Float32Array, Float32Array>({
    maxRows,
    async runBatch(rows) {
      const B = rows.length;
      const hidden = new Float32Array(B * D);
      rows.forEach((r, b) => hidden.set(r, b * D));
      const logits = await head.run({ data: hidden, dims: [B, 1, D] });
      return rows.map((_, b) => logits.data.slice(b * V, (b + 1) * V));
    },
  });
  return {
    batchSizes: () => ({ stem: stemRows.batchSizes(), head: headRows.batchSizes() }),
    manifest: pkg.manifest,
    encode,
    route(tokens) {
      const c = choosePath(pkg.manifest.router, tokens);
      return { path: c.path, cluster: c.cluster, distances: c.distances };
    },
    async embed(tokens, position): Promise<F32> {
      const T = tokens.length;
      if (T === 1) return stemRows.run({ token: tokens[0], position });
      const ids = new BigInt64Array(T);
      const positions = new BigInt64Array(T);
      for (let i = 0; i < T; i++) { ids[i] = BigInt(tokens[i]); positions[i] = BigInt(position + i); }
      return stem.run(ids, positions, 1, T);
    },
    async lastLogits(hidden) {
      if (hidden.data.length === D) return headRows.run(hidden.data);
      // The head runs on every position, as the MonolithicRunner does, so that numbers match exactly.
      const logits = await head.run(hidden);
      return logits.data.slice(logits.data.length - V);
    },
    sampler(seed, params) {
      const rng = createRng(seed);
      const opts = { temperature: params.temperature, topP: params.topP };
      return (logits) => sampleToken(logits, opts, rng);
    },
    decoder() {
      const d = createStreamDecoder();
      return { push: (t) => d.push(t), end: () => d.flush() };
    },
    async release() {
      await Promise.all([stem.release(), head.release()]);
    },
  };
}
