/**
 * A peer's non-finite activations stay its own (real onnxruntime, in process). The host does not
 * refuse NaN or ±Infinity in a step (checking every value would cost a pass over each tensor, and
 * a peer can only poison what it computes), but it batches steps of different peers into one call:
 * a NaN step, and later steps over a cache holding NaN, must not change the results of the other
 * sessions they were batched with, through padding, masks or reused buffers.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, test } from 'vitest';
import type { HostCore } from '../../../expert-host/host-core.ts';
import type { KvSession } from '../../../expert-host/kv-session.ts';
import type { ExpertModel } from '../../../shared/runtime-types.ts';
import { realCore } from './real-core.ts';

let model: ExpertModel;
let core: HostCore;
let D: number;
let batches: number[];

beforeAll(async () => {
  ({ model, core, D, batches } = await realCore());
});
afterAll(async () => { await model.release(); });

const seq = (N: number, seed: number) => new Float32Array(N * D).map((_, i) => Math.cos(seed * 3.3 + i * 0.057));
const h = (data: Float32Array) => ({ data, dims: [1, data.length / D, D] });

test('a NaN or Infinity step batched with other sessions changes none of their results', async () => {
  const K = 4;
  const prompts = Array.from({ length: K }, (_, k) => seq(k + 1, k));
  const next = Array.from({ length: 2 }, (_, r) => Array.from({ length: K }, (_, k) => seq(1, 100 + 10 * r + k)));
  const open = async () => {
    const ss: KvSession[] = [];
    for (let k = 0; k < K; k++) { ss.push(core.openSession('L1.0', 16, `peer${k}`)); await core.step(ss[k], 0, h(prompts[k])); }
    return ss;
  };
  // Alone: the clean sessions step one by one.
  const alone = await open();
  const want: Float32Array[][] = [[], []];
  for (let r = 0; r < 2; r++) for (let k = 1; k < K; k++) want[r][k] = Float32Array.from((await core.step(alone[k], k + 1 + r, h(next[r][k]))).hidden);
  // Together, with session 0 stepping NaN and Infinity, then a clean step over its poisoned cache.
  const ss = await open();
  const poison = new Float32Array(D).map((_, i) => (i % 3 === 0 ? NaN : i % 3 === 1 ? Infinity : -Infinity));
  for (let r = 0; r < 2; r++) {
    batches.length = 0;
    const outs = await Promise.all(ss.map((s, k) => core.step(s, k + 1 + r, h(k === 0 && r === 0 ? poison : next[r][k]))));
    assert.deepEqual(batches, [K], 'one onnxruntime call for the four sessions');
    assert.ok(outs[0].hidden.some((x) => !Number.isFinite(x)), 'the poisoned session gets its own non-finite result');
    for (let k = 1; k < K; k++) {
      assert.ok(outs[k].hidden.every(Number.isFinite), `round ${r}: session ${k} stays finite`);
      let worst = 0;
      for (let i = 0; i < D; i++) worst = Math.max(worst, Math.abs(outs[k].hidden[i] - want[r][k][i]));
      assert.ok(worst <= 1e-5, `round ${r}: session ${k} batched with a poisoned one differs by ${worst}`);
    }
  }
  for (const s of [...alone, ...ss]) core.closeSession(s.id);
});
