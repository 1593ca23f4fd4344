/**
 * Pure batch assembly: several expert calls with the same number of new positions T become one
 * onnxruntime call. Rows with different cached lengths P are right-padded to the longest P with
 * zeroed keys/values and a zero mask there (docs/model-format.md, "mask"); experts are position-free,
 * so padding never shifts a row's result. A lone call passes its buffers through without a copy.
 */
import type { F32 } from '../shared/runtime-types.ts';

/** One call to batch: a session's step (1 row, its cached prefix) or a stateless Forward (rows, no past). */
export interface BatchItem {
  /** [rows, T, D] row-major. */
  hidden: Float32Array;
  rows: number;
  T: number;
  /** The cached prefix, pastLen * floatsPerPosition floats, position-major; null when pastLen is 0. */
  past: Float32Array | null;
  pastLen: number;
}

/** The KV layout of one position: [L, 2, H, Dh]. */
export interface KvShape {
  layers: number;
  nHeads: number;
  headDim: number;
}

export interface AssembledBatch {
  hidden: F32;
  pastKv: F32;
  mask: F32;
  /** Total rows B. */
  rows: number;
  T: number;
  /** Longest cached prefix P (the padded length). */
  pMax: number;
}

/** The per-item slices of a batched result: hidden [rows,T,D] and new keys/values [rows,T,L,2,H,Dh]. */
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

/** Builds the padded input tensors of `items` (all with the same T). */
export function assembleBatch(items: readonly BatchItem[], D: number, kv: KvShape): AssembledBatch {
  if (items.length === 0) throw new Error('assembleBatch: no items');
  const T = items[0].T;
  const fpp = fppOf(kv);
  const kvDims = [kv.layers, 2, kv.nHeads, kv.headDim];
  let rows = 0;
  let pMax = 0;
  for (const it of items) {
    if (it.T !== T) throw new Error(`assembleBatch: mixed T (${T} and ${it.T})`);
    if (it.pastLen > 0 && it.rows !== 1) throw new Error('assembleBatch: an item with a cached prefix must have one row');
    rows += it.rows;
    pMax = Math.max(pMax, it.pastLen);
  }
  if (items.length === 1) {
    const it = items[0];
    return {
      hidden: { data: it.hidden, dims: [it.rows, T, D] },
      pastKv: { data: it.past ?? new Float32Array(0), dims: [it.rows, it.pastLen, ...kvDims] },
      mask: { data: new Float32Array(it.rows * (it.pastLen + T)).fill(1), dims: [it.rows, it.pastLen + T] },
      rows: it.rows, T, pMax,
    };
  }
  const hidden = new Float32Array(rows * T * D);
  const pastKv = new Float32Array(rows * pMax * fpp);
  const width = pMax + T;
  const mask = new Float32Array(rows * width);
  let r = 0;
  for (const it of items) {
    hidden.set(it.hidden, r * T * D);
    if (it.past && it.pastLen > 0) pastKv.set(it.past.subarray(0, it.pastLen * fpp), r * pMax * fpp);
    for (let k = 0; k < it.rows; k++, r++) {
      const m = r * width;
      mask.fill(1, m, m + it.pastLen);
      mask.fill(1, m + pMax, m + width);
    }
  }
  return {
    hidden: { data: hidden, dims: [rows, T, D] },
    pastKv: { data: pastKv, dims: [rows, pMax, ...kvDims] },
    mask: { data: mask, dims: [rows, width] },
    rows, T, pMax,
  };
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
