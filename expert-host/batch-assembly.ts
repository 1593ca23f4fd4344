/**
 * Pure batch assembly: several expert calls with the same number of new positions T become one
 * onnxruntime call. Each row's filled cache slots are copied into [B,H,Pmax,Dh] tensors (Pmax the
 * longest cached prefix), zeroed past its own length with a zero mask there (docs/model-format.md,
 * "mask"); experts are position-free, so padding never shifts a row's result. A lone call passes
 * views of its session's cache through without a copy. A `BatchScratch` lets one expert's batched calls
 * reuse their input tensors instead of allocating (and collecting) them on every step.
 */
import { copyIntoBatch, emptyPast, maskOf, pastOf, type KvCache, type KvShape } from '../shared/model/kv-cache.ts';
import type { F32, PastKv } from '../shared/runtime-types.ts';

/** One call to batch: a session's step (1 row, its cache) or a stateless Forward (rows, no cache). */
export interface BatchItem {
  /** [rows, T, D] row-major. */
  hidden: Float32Array;
  rows: number;
  T: number;
  /** The session's cache, positions [0, length) attended to; null for a stateless call. */
  cache: KvCache | null;
}

export interface AssembledBatch {
  hidden: F32;
  past: PastKv;
  mask: F32;
  /** Total rows B. */
  rows: number;
  T: number;
  /** Longest cached prefix P (the padded length). */
  pMax: number;
}

/** The per-item slices of a batched result: hidden [rows,T,D] and new keys/values [rows,L,2,H,T,Dh]. */
export interface ItemResult {
  hidden: Float32Array;
  newKv: Float32Array;
}

const fppOf = (kv: KvShape) => kv.layers * 2 * kv.nHeads * kv.headDim;

/**
 * Picks which queued calls run together: the oldest call's T, then every later call with the same T
 * (FIFO) while the rows fit `maxRows` and the padded cache (rows x longest cached prefix, in
 * positions) fits `maxPaddedPositions`. The oldest always runs, even alone above the limits.
 * Why the second limit: a batched call copies every row's cache into one padded tensor, and once
 * that tensor outgrows the CPU caches a batch runs slower than its rows one by one (measured:
 * 16 sessions at P=500 of a d_model-128 expert took 2x as long batched as serially).
 */
export function selectBatch(queue: readonly { T: number; rows: number; pastLen?: number }[], maxRows: number,
  maxPaddedPositions = Infinity): number[] {
  if (queue.length === 0) return [];
  const T = queue[0].T;
  const picked = [0];
  let rows = queue[0].rows;
  let pMax = queue[0].pastLen ?? 0;
  for (let i = 1; i < queue.length && rows < maxRows; i++) {
    const q = queue[i];
    if (q.T !== T || rows + q.rows > maxRows) continue;
    const p = Math.max(pMax, q.pastLen ?? 0);
    if ((rows + q.rows) * p > maxPaddedPositions) continue;
    picked.push(i);
    rows += q.rows;
    pMax = p;
  }
  return picked;
}

/** Cached positions of an item. */
export const pastLenOf = (it: BatchItem): number => it.cache?.length ?? 0;

/**
 * Reusable input memory of one expert's batched calls, grown to the largest batch seen (bounded by the
 * batcher's padded-cache limit, selectBatch). Batches of one expert run one at a time, and onnxruntime
 * reads its inputs only during the call, so the next batch may overwrite them.
 * Why: at 32 sessions a host allocated a fresh padded cache (megabytes) per batched step, and the
 * garbage collector took as much of its CPU as onnxruntime itself (profile in BENCHMARKS.md).
 */
export class BatchScratch {
  #arena = new Float32Array(0);
  #used = 0;

  /** Starts a batch: the arrays taken before are free again. */
  reset(floats: number): void {
    if (this.#arena.length < floats) this.#arena = new Float32Array(Math.max(floats, 2 * this.#arena.length));
    this.#used = 0;
  }

  /** `n` floats of the arena, with whatever the last batch left there. */
  take(n: number): Float32Array {
    const a = this.#arena.subarray(this.#used, this.#used + n);
    this.#used += n;
    return a;
  }

  /** Floats held (for tests). */
  get capacity(): number { return this.#arena.length; }
}

/**
 * Builds the padded input tensors of `items` (all with the same T), in `scratch` when given (the
 * tensors are then valid until the next call with the same scratch), else in fresh arrays.
 */
export function assembleBatch(items: readonly BatchItem[], D: number, kv: KvShape, scratch?: BatchScratch): AssembledBatch {
  if (items.length === 0) throw new Error('assembleBatch: no items');
  const T = items[0].T;
  let rows = 0;
  let pMax = 0;
  for (const it of items) {
    if (it.T !== T) throw new Error(`assembleBatch: mixed T (${T} and ${it.T})`);
    if (it.cache && it.rows !== 1) throw new Error('assembleBatch: an item with a cache must have one row');
    rows += it.rows;
    pMax = Math.max(pMax, pastLenOf(it));
  }
  if (items.length === 1) {
    const it = items[0];
    return {
      hidden: { data: it.hidden, dims: [it.rows, T, D] },
      past: it.cache ? pastOf(it.cache) : emptyPast(kv.layers, it.rows),
      mask: it.cache ? maskOf(it.cache, T) : { data: new Float32Array(it.rows * T).fill(1), dims: [it.rows, T] },
      rows: it.rows, T, pMax,
    };
  }
  const n = rows * kv.nHeads * pMax * kv.headDim;
  const width = pMax + T;
  scratch?.reset(rows * T * D + 2 * kv.layers * n + rows * width);
  const alloc = (k: number) => (scratch ? scratch.take(k) : new Float32Array(k));
  const hidden = alloc(rows * T * D);
  const past: PastKv = {
    rows, slots: pMax,
    keys: Array.from({ length: kv.layers }, () => alloc(n)),
    values: Array.from({ length: kv.layers }, () => alloc(n)),
  };
  const mask = alloc(rows * width);
  if (scratch) mask.fill(0);
  let r = 0;
  for (const it of items) {
    hidden.set(it.hidden, r * T * D);
    if (it.cache) copyIntoBatch(it.cache, past, r);
    // Reused memory holds an earlier batch's numbers: padding must be zeros (a stale NaN times a zero
    // attention weight would still be NaN).
    if (scratch) zeroPadding(past, r, it.rows, it.cache?.length ?? 0, kv);
    for (let k = 0; k < it.rows; k++, r++) {
      const m = r * width;
      mask.fill(1, m, m + pastLenOf(it));
      mask.fill(1, m + pMax, m + width);
    }
  }
  return { hidden: { data: hidden, dims: [rows, T, D] }, past, mask: { data: mask, dims: [rows, width] }, rows, T, pMax };
}

/** Zeroes the slots [filled, slots) of `count` rows from `row` in every `past_*` tensor. */
function zeroPadding(past: PastKv, row: number, count: number, filled: number, kv: KvShape): void {
  if (filled >= past.slots) return;
  const Dh = kv.headDim;
  for (const t of [...past.keys, ...past.values]) {
    for (let b = row; b < row + count; b++) {
      for (let h = 0; h < kv.nHeads; h++) {
        const head = (b * kv.nHeads + h) * past.slots * Dh;
        t.fill(0, head + filled * Dh, head + past.slots * Dh);
      }
    }
  }
}

/** Splits a batched result back into per-item views (no copies). */
export function splitBatch(items: readonly BatchItem[], out: { hiddenOut: F32; newKv: F32 }, D: number, kv: KvShape): ItemResult[] {
  const fpp = fppOf(kv);
  const results: ItemResult[] = [];
  let r = 0;
  for (const it of items) {
    const T = it.T;
    results.push({
      hidden: out.hiddenOut.data.subarray(r * T * D, (r + it.rows) * T * D),
      newKv: out.newKv.data.subarray(r * T * fpp, (r + it.rows) * T * fpp),
    });
    r += it.rows;
  }
  return results;
}
