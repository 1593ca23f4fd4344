/**
 * One sequence's KV cache in the layout of docs/model-format.md ("Host cache layout"): the whole
 * reservation, L x 2 x H x maxLength x Dh floats, is allocated up front; each (layer, key/value)
 * block holds [H, capacity, Dh], the capacity growing by CAPACITY_STEP slots and the block re-laid in
 * place when it does. A step's `past_key_l` / `past_value_l` inputs are views of the blocks (no copy),
 * the mask marks the first `length` slots. Used by the host's sessions and the monolithic runner.
 */
import type { F32, PastKv } from '../runtime-types.ts';

/** The KV shape of one expert: per cached position, L layers x (key, value) x H heads x Dh. */
export interface KvShape {
  layers: number;
  nHeads: number;
  headDim: number;
}

/** Slots the capacity grows by. */
export const CAPACITY_STEP = 64;

export interface KvCache {
  readonly shape: KvShape;
  readonly maxLength: number;
  /** The reservation: 2L blocks of H * maxLength * Dh floats, block (l, kv) at index 2l + kv. */
  readonly buffer: Float32Array;
  /** Slots per head in use by the layout ([H, capacity, Dh] at the start of each block). */
  capacity: number;
  /** Cached positions, in slots [0, length). */
  length: number;
}

/** Floats one cached position takes: L * 2 * H * Dh. */
export function kvFloatsPerPosition(shape: KvShape): number {
  return shape.layers * 2 * shape.nHeads * shape.headDim;
}

/** An empty cache with room for `maxLength` positions, all allocated now. */
export function createKvCache(shape: KvShape, maxLength: number): KvCache {
  return { shape, maxLength, buffer: new Float32Array(maxLength * kvFloatsPerPosition(shape)), capacity: 0, length: 0 };
}

/** The capacity needed for `n` positions: a multiple of CAPACITY_STEP, at most maxLength. */
export function capacityFor(n: number, maxLength: number): number {
  return Math.min(maxLength, Math.ceil(n / CAPACITY_STEP) * CAPACITY_STEP);
}

/**
 * Grows the capacity to hold `n` positions, moving each head's filled slots to its new place. Heads
 * move last to first: a head's new start is never before its old one, so nothing unread is overwritten.
 */
export function ensureCapacity(c: KvCache, n: number): void {
  if (n > c.maxLength) throw new Error(`${n} positions exceed the cache's ${c.maxLength}`);
  if (n <= c.capacity) return;
  const next = capacityFor(n, c.maxLength);
  const { nHeads: H, headDim: Dh } = c.shape;
  const block = H * c.maxLength * Dh;
  const filled = c.length * Dh;
  for (let b = 0; b < 2 * c.shape.layers; b++) {
    const base = b * block;
    for (let h = H - 1; h > 0; h--) c.buffer.copyWithin(base + h * next * Dh, base + h * c.capacity * Dh, base + h * c.capacity * Dh + filled);
  }
  c.capacity = next;
}

/** Forgets positions from `position` on (their slots become free). */
export function truncateKv(c: KvCache, position: number): void {
  if (position < 0 || position > c.length) throw new Error(`cannot truncate a cache of ${c.length} positions to ${position}`);
  c.length = position;
}

/** The cache as one row of an expert's `past_*` inputs: views [1, H, capacity, Dh] of every block. */
export function pastOf(c: KvCache): PastKv {
  const { layers, nHeads: H, headDim: Dh } = c.shape;
  const block = H * c.maxLength * Dh;
  const n = H * c.capacity * Dh;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < layers; l++) {
    keys.push(c.buffer.subarray(2 * l * block, 2 * l * block + n));
    values.push(c.buffer.subarray((2 * l + 1) * block, (2 * l + 1) * block + n));
  }
  return { rows: 1, slots: c.capacity, keys, values };
}

/** The mask [1, capacity + T] of a step of T new positions on this cache. */
export function maskOf(c: KvCache, T: number): F32 {
  const m = new Float32Array(c.capacity + T);
  m.fill(1, 0, c.length);
  m.fill(1, c.capacity);
  return { data: m, dims: [1, c.capacity + T] };
}

/**
 * Appends T new positions from an expert's `new_kv` [B, L, 2, H, T, Dh] (row `row` of B; `newKv` may
 * also be that row's own slice, with `row` 0), growing the capacity first when needed.
 */
export function appendKv(c: KvCache, newKv: Float32Array, T: number, row = 0): void {
  const { layers, nHeads: H, headDim: Dh } = c.shape;
  const rowFloats = layers * 2 * H * T * Dh;
  if (newKv.length < (row + 1) * rowFloats) throw new Error(`new_kv has ${newKv.length} floats, expected ${rowFloats} per row (T=${T})`);
  ensureCapacity(c, c.length + T);
  const block = H * c.maxLength * Dh;
  for (let b = 0; b < 2 * layers; b++) {
    for (let h = 0; h < H; h++) {
      const src = row * rowFloats + (b * H + h) * T * Dh;
      c.buffer.set(newKv.subarray(src, src + T * Dh), b * block + (h * c.capacity + c.length) * Dh);
    }
  }
  c.length += T;
}

/** The inputs of a call with no cache (C = 0): B rows of empty `past_*` tensors. */
export function emptyPast(layers: number, rows: number): PastKv {
  const none = new Float32Array(0);
  return { rows, slots: 0, keys: Array.from({ length: layers }, () => none), values: Array.from({ length: layers }, () => none) };
}

/** Copies the filled slots of cache `c` into row `row` of padded `past_*` tensors of `slots` slots. */
export function copyIntoBatch(c: KvCache, past: PastKv, row: number): void {
  const { layers, nHeads: H, headDim: Dh } = c.shape;
  if (c.length > past.slots) throw new Error(`a row of ${c.length} positions does not fit ${past.slots} slots`);
  const block = H * c.maxLength * Dh;
  for (let l = 0; l < layers; l++) {
    for (let kv = 0; kv < 2; kv++) {
      const dst = kv === 0 ? past.keys[l] : past.values[l];
      const base = (2 * l + kv) * block;
      for (let h = 0; h < H; h++) {
        const from = base + h * c.capacity * Dh;
        dst.set(c.buffer.subarray(from, from + c.length * Dh), (row * H + h) * past.slots * Dh);
      }
    }
  }
}

/** The cached positions in position-major order [length, L, 2, H, Dh] (a copy; for tests and tools). */
export function positionMajor(c: KvCache): Float32Array {
  const { layers, nHeads: H, headDim: Dh } = c.shape;
  const out = new Float32Array(c.length * kvFloatsPerPosition(c.shape));
  const block = H * c.maxLength * Dh;
  for (let p = 0; p < c.length; p++) {
    for (let b = 0; b < 2 * layers; b++) {
      for (let h = 0; h < H; h++) {
        const from = b * block + (h * c.capacity + p) * Dh;
        out.set(c.buffer.subarray(from, from + Dh), ((p * 2 * layers + b) * H + h) * Dh);
      }
    }
  }
  return out;
}
