/**
 * A tiny ExpertModel for unit tests that honours the ONNX contract's semantics: keys/values of a new
 * position are functions of its hidden state, and the output at a position sums the layer-0 keys of
 * every position it attends to (mask = 1 among the past, causal among the new). So padding, masks
 * and cache contents all show in the result, and batched runs must equal unbatched ones.
 */
import type { ExpertEntry } from '../../../shared/manifest.ts';
import type { ExpertModel, F32 } from '../../../shared/runtime-types.ts';

export interface FakeModel extends ExpertModel {
  /** Batch sizes (rows) of every run, in order. */
  readonly runs: number[];
}

export function fakeExpertModel(id: string, dims: { layers: number; nHeads: number; headDim: number }, opts: { failWith?: Error } = {}): FakeModel {
  const D = dims.nHeads * dims.headDim;
  const fpp = dims.layers * 2 * D;
  const runs: number[] = [];
  const entry = { id, file: `experts/${id}.onnx`, sha256: 'f'.repeat(64), bytes: 1, layers: dims.layers, probe: { seed: 1, tokens: 1, fingerprint: [] } } as ExpertEntry;
  return {
    entry,
    device: 'cpu',
    runs,
    async run(hidden: F32, pastKv: F32, mask: F32) {
      await new Promise((r) => setImmediate(r));
      if (opts.failWith) throw opts.failWith;
      const [B, T] = hidden.dims;
      const P = pastKv.dims[1];
      if (mask.dims[0] !== B || mask.dims[1] !== P + T) throw new Error(`mask dims [${mask.dims}] for B=${B} P=${P} T=${T}`);
      if (pastKv.data.length !== B * P * fpp) throw new Error('past_kv size');
      runs.push(B);
      const newKv = new Float32Array(B * T * fpp);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let l = 0; l < dims.layers; l++) for (let d = 0; d < D; d++) {
        const x = hidden.data[(b * T + t) * D + d];
        newKv[(b * T + t) * fpp + l * 2 * D + d] = x * (l + 1) + 0.5;
        newKv[(b * T + t) * fpp + l * 2 * D + D + d] = -x;
      }
      const out = new Float32Array(B * T * D);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) {
        let s = hidden.data[(b * T + t) * D + d];
        for (let j = 0; j < P; j++) if (mask.data[b * (P + T) + j] === 1) s += pastKv.data[(b * P + j) * fpp + d];
        for (let j = 0; j <= t; j++) if (mask.data[b * (P + T) + P + j] === 1) s += newKv[(b * T + j) * fpp + d];
        out[(b * T + t) * D + d] = s;
      }
      return { hiddenOut: { data: out, dims: [B, T, D] }, newKv: { data: newKv, dims: [B, T, dims.layers, 2, dims.nHeads, dims.headDim] } };
    },
    async release() {},
  };
}
