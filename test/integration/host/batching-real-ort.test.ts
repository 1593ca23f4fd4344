/**
 * Batching with real onnxruntime (in process, no network): decode steps of sessions with different
 * cache lengths run as one padded call, and give the same outputs as each session alone.
 */
import assert from 'node:assert/strict';
import { test, beforeAll, afterAll } from 'vitest';
import type { HostCore } from '../../../expert-host/host-core.ts';
import type { ExpertModel } from '../../../shared/runtime-types.ts';
import { realCore } from './real-core.ts';

let model: ExpertModel;
let batches: number[];
let core: HostCore;
let D: number;

beforeAll(async () => {
  ({ model, core, D, batches } = await realCore());
});
afterAll(async () => { await model.release(); });

const seqOf = (N: number, seed: number) => new Float32Array(N * D).map((_, i) => Math.cos(seed * 3.3 + i * 0.057));

test('decode steps of 12 sessions with cache lengths 1..12 batch into one call equal to the unbatched results', async () => {
  const K = 12;
  const seqs = Array.from({ length: K }, (_, k) => seqOf(k + 2, k));
  const run = async (together: boolean) => {
    const sessions = seqs.map(() => core.openSession('L1.0', 16));
    for (let k = 0; k < K; k++) await core.step(sessions[k], 0, { data: seqs[k].slice(0, (k + 1) * D), dims: [1, k + 1, D] });
    batches.length = 0;
    const last = (k: number) => ({ data: seqs[k].slice((k + 1) * D), dims: [1, 1, D] });
    const outs = together
      ? await Promise.all(sessions.map((s, k) => core.step(s, k + 1, last(k))))
      : await sessions.reduce(async (acc, s, k) => [...await acc, await core.step(s, k + 1, last(k))], Promise.resolve([] as { hidden: Float32Array }[]));
    for (const s of sessions) core.closeSession(s.id);
    return { outs: outs.map((o) => Float32Array.from(o.hidden)), batches: [...batches] };
  };
  const alone = await run(false);
  assert.deepEqual(alone.batches, new Array(K).fill(1));
  const together = await run(true);
  assert.deepEqual(together.batches, [K], 'one onnxruntime call for all twelve');
  for (let k = 0; k < K; k++) {
    let worst = 0;
    for (let i = 0; i < D; i++) worst = Math.max(worst, Math.abs(together.outs[k][i] - alone.outs[k][i]));
    assert.ok(worst <= 1e-5, `session ${k}: batched differs from unbatched by ${worst}`);
  }
});

test('stateless Forward calls with equal T batch too and equal their lone results', async () => {
  const xs = [seqOf(3, 1), seqOf(3, 2), seqOf(3, 3)];
  batches.length = 0;
  const together = await Promise.all(xs.map((x) => core.forward('L1.0', { data: x, dims: [1, 3, D] })));
  assert.deepEqual(batches, [3]);
  for (let k = 0; k < xs.length; k++) {
    const alone = await core.forward('L1.0', { data: xs[k], dims: [1, 3, D] });
    for (let i = 0; i < alone.length; i++) assert.ok(Math.abs(alone[i] - together[k][i]) <= 1e-5);
  }
});
