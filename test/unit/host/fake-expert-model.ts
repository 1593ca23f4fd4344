/**
 * A tiny ExpertModel for unit tests that honours the ONNX contract's semantics and shapes: keys/values
 * of a new position are functions of its hidden state, and the output at a position sums the layer-0
 * keys of every slot and position it attends to (mask = 1 among the cache slots, causal among the
 * new). So padding, masks and cache contents all show in the result, and batched runs must equal
 * unbatched ones.
 */
import type { ExpertEntry } from '../../../shared/manifest.ts';
import type { ExpertModel, F32, PastKv } from '../../../shared/runtime-types.ts';

export interface FakeModel extends ExpertModel {
  /** Batch sizes (rows) of every run, in order. */
  readonly runs: number[];
}

export function fakeExpertModel(id: string, dims: { layers: number; nHeads: number; headDim: number }, opts: { failWith?: Error } = {}): FakeModel {
  const D = dims.nHeads * dims.headDim;
  const runs: number[] = [];
  const entry = { id, file: `experts/${id}.onnx`, sha256: 'f'.repeat(64), bytes: 1, layers: dims.layers, probe: { seed: 1, tokens: 1, fingerprint: [] } } as ExpertEntry;
  return {
    entry,
    device: 'cpu',
    runs,
    async run(hidden: F32, past: PastKv, mask: F32) {
      await new Promise((r) => setImmediate(r));
      if (opts.failWith) throw opts.failWith;
      const [B, T] = hidden.dims;
      const C = past.slots;
      const { layers: L, nHeads: H, headDim: Dh } = dims;
      if (mask.dims[0] !== B || mask.dims[1] !== C + T) throw new Error(`mask dims [${mask.dims}] for B=${B} C=${C} T=${T}`);
      if (past.rows !== B || past.keys.length !== L || past.values.length !== L) throw new Error('past rows or layers');
      for (const a of [...past.keys, ...past.values]) if (a.length !== B * H * C * Dh) throw new Error('past_* size');
      runs.push(B);
      // new_kv [B,L,2,H,T,Dh]: key = x * (l + 1) + 0.5, value = -x, x the hidden element of that head's dim.
      const at = (b: number, l: number, kv: number, t: number, d: number) => ((((b * L + l) * 2 + kv) * H + Math.floor(d / Dh)) * T + t) * Dh + d % Dh;
      const newKv = new Float32Array(B * L * 2 * H * T * Dh);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) {
        const x = hidden.data[(b * T + t) * D + d];
        newKv[at(b, l, 0, t, d)] = x * (l + 1) + 0.5;
        newKv[at(b, l, 1, t, d)] = -x;
      }
      const out = new Float32Array(B * T * D);
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) {
        let s = hidden.data[(b * T + t) * D + d];
        const h = Math.floor(d / Dh);
        for (let c = 0; c < C; c++) if (mask.data[b * (C + T) + c] === 1) s += past.keys[0][((b * H + h) * C + c) * Dh + d % Dh];
        for (let j = 0; j <= t; j++) if (mask.data[b * (C + T) + C + j] === 1) s += newKv[at(b, 0, 0, j, d)];
        out[(b * T + t) * D + d] = s;
      }
      return { hiddenOut: { data: out, dims: [B, T, D] }, newKv: { data: newKv, dims: [B, L, 2, H, T, Dh] } };
    },
    async release() {},
  };
}
