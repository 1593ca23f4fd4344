/**
 * What one stage has been sent so far: the hidden states of every position, kept by the router so
 * that a stage can be replayed on another replica and cross-checked (router/stage-session.ts).
 * d_model floats per position, in one buffer grown by doubling.
 */
import type { F32 } from '../shared/runtime-types.ts';

export class StageHistory {
  readonly #D: number;
  #data: Float32Array;
  #length = 0;

  /** `reserve`: positions to allocate at first. */
  constructor(dModel: number, reserve: number) {
    this.#D = dModel;
    this.#data = new Float32Array(reserve * dModel);
  }

  /** Positions recorded. */
  get length(): number {
    return this.#length;
  }

  /** Appends hidden [1,T,D]. */
  record(hidden: F32): void {
    const D = this.#D;
    const need = (this.#length + hidden.dims[1]) * D;
    if (need > this.#data.length) {
      const grown = new Float32Array(Math.max(need, this.#data.length * 2));
      grown.set(this.#data.subarray(0, this.#length * D));
      this.#data = grown;
    }
    this.#data.set(hidden.data.subarray(0, hidden.dims[1] * D), this.#length * D);
    this.#length += hidden.dims[1];
  }

  /** The recorded positions followed by `hidden`: [1, length + T, D] (a copy). */
  with(hidden: F32): F32 {
    const D = this.#D;
    const T = hidden.dims[1];
    const data = new Float32Array((this.#length + T) * D);
    data.set(this.#data.subarray(0, this.#length * D));
    data.set(hidden.data.subarray(0, T * D), this.#length * D);
    return { data, dims: [1, this.#length + T, D] };
  }
}

/** The last T rows of a [1, N, D] tensor, as [1, T, D] (a view, no copy). */
export function lastRows(t: F32, T: number): F32 {
  const N = t.dims[1];
  const D = t.dims[2];
  return { data: t.data.subarray((N - T) * D, N * D), dims: [1, T, D] };
}
