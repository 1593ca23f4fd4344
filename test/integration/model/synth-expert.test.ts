/**
 * The synth expert honours the ONNX contract: decoding with a KV cache equals a full recompute,
 * batched rows with padding equal unbatched runs, probes match, and a d_model 1024 model runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPackage } from '../../../shared/model/package.ts';
import { openExpert, openHead, openStem } from '../../../shared/model/ort.ts';
import { checkProbe } from '../../../shared/model/probe.ts';
import { createRng } from '../../../shared/model/rng.ts';
import { synthPackage } from '../../../shared/model/synth.ts';
import type { ExpertModel, F32 } from '../../../shared/runtime-types.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

const D = 64, H = 4, DH = 16, L = 2;

function randHidden(n: number, seed: number): Float32Array {
  const r = createRng(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

const empty = (B: number): F32 => ({ data: new Float32Array(0), dims: [B, 0, L, 2, H, DH] });
const ones = (B: number, n: number): F32 => ({ data: new Float32Array(B * n).fill(1), dims: [B, n] });

function assertClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  assert.ok(worst <= tol, `${what}: max abs diff ${worst} > ${tol}`);
}

async function expert(): Promise<ExpertModel> {
  const pkg = await loadPackage(await synthFixture({ layers: L, dModel: D, heads: H }));
  return openExpert(pkg, 'L0.1');
}

test('decode with the KV cache equals a full recompute', async () => {
  const e = await expert();
  const N = 7, P0 = 4, row = D, kvRow = L * 2 * H * DH;
  const x = randHidden(N * D, 7);
  const full = await e.run({ data: x, dims: [1, N, D] }, empty(1), ones(1, N));
  assert.deepEqual(full.hiddenOut.dims, [1, N, D]);
  assert.deepEqual(full.newKv.dims, [1, N, L, 2, H, DH]);
  const pre = await e.run({ data: x.slice(0, P0 * D), dims: [1, P0, D] }, empty(1), ones(1, P0));
  assertClose(pre.hiddenOut.data, full.hiddenOut.data.slice(0, P0 * row), 1e-4, 'prefill hidden');
  const cache = new Float32Array(N * kvRow);
  cache.set(pre.newKv.data, 0);
  for (let p = P0; p < N; p++) {
    const step = await e.run({ data: x.slice(p * D, (p + 1) * D), dims: [1, 1, D] },
      { data: cache.subarray(0, p * kvRow), dims: [1, p, L, 2, H, DH] }, ones(1, p + 1));
    assertClose(step.hiddenOut.data, full.hiddenOut.data.slice(p * row, (p + 1) * row), 1e-4, `decode hidden at ${p}`);
    assertClose(step.newKv.data, full.newKv.data.slice(p * kvRow, (p + 1) * kvRow), 1e-4, `new_kv at ${p}`);
    cache.set(step.newKv.data, p * kvRow);
  }
  // The cache must matter: decoding the last token with no history gives a different output.
  const alone = await e.run({ data: x.slice((N - 1) * D), dims: [1, 1, D] }, empty(1), ones(1, 1));
  const diff = alone.hiddenOut.data.reduce((s, v, i) => s + Math.abs(v - full.hiddenOut.data[(N - 1) * D + i]), 0);
  assert.ok(diff > 1e-2, 'attention to the cache changes the output');
  await e.release();
});

test('batched rows with padding equal unbatched runs (decode and prefill)', async () => {
  const e = await expert();
  const kvRow = L * 2 * H * DH;
  // Two sessions with caches of 3 and 5 positions, one decode step each.
  const lens = [3, 5];
  const caches: Float32Array[] = [];
  const singles: { h: Float32Array; kv: Float32Array }[] = [];
  const xs = lens.map((_, i) => randHidden(D, 100 + i));
  for (let i = 0; i < 2; i++) {
    const pre = await e.run({ data: randHidden(lens[i] * D, 10 + i), dims: [1, lens[i], D] }, empty(1), ones(1, lens[i]));
    caches.push(pre.newKv.data.slice());
    const s = await e.run({ data: xs[i], dims: [1, 1, D] }, { data: caches[i], dims: [1, lens[i], L, 2, H, DH] }, ones(1, lens[i] + 1));
    singles.push({ h: s.hiddenOut.data.slice(), kv: s.newKv.data.slice() });
  }
  const P = 5;
  const past = new Float32Array(2 * P * kvRow).fill(3.5); // garbage in the padding must be ignored
  const mask = new Float32Array(2 * (P + 1));
  for (let i = 0; i < 2; i++) {
    past.set(caches[i], i * P * kvRow);
    for (let p = 0; p < lens[i]; p++) mask[i * (P + 1) + p] = 1;
    mask[i * (P + 1) + P] = 1;
  }
  const hid = new Float32Array(2 * D);
  hid.set(xs[0], 0); hid.set(xs[1], D);
  const b = await e.run({ data: hid, dims: [2, 1, D] }, { data: past, dims: [2, P, L, 2, H, DH] }, { data: mask, dims: [2, P + 1] });
  for (let i = 0; i < 2; i++) {
    assertClose(b.hiddenOut.data.slice(i * D, (i + 1) * D), singles[i].h, 1e-4, `batched decode row ${i}`);
    assertClose(b.newKv.data.slice(i * kvRow, (i + 1) * kvRow), singles[i].kv, 1e-4, `batched new_kv row ${i}`);
  }
  // Prefill of 3 and 5 tokens in one batch, the shorter right-padded.
  const a = randHidden(3 * D, 20), c = randHidden(5 * D, 21);
  const ha = await e.run({ data: a, dims: [1, 3, D] }, empty(1), ones(1, 3));
  const hc = await e.run({ data: c, dims: [1, 5, D] }, empty(1), ones(1, 5));
  const bh = new Float32Array(2 * 5 * D).fill(-2);
  bh.set(a, 0); bh.set(c, 5 * D);
  const bm = Float32Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
  const bp = await e.run({ data: bh, dims: [2, 5, D] }, empty(2), { data: bm, dims: [2, 5] });
  assertClose(bp.hiddenOut.data.slice(0, 3 * D), ha.hiddenOut.data, 1e-4, 'padded prefill row 0');
  assertClose(bp.hiddenOut.data.slice(5 * D), hc.hiddenOut.data, 1e-4, 'prefill row 1');
  await e.release();
});

test('every synth expert matches its manifest probe; a different expert does not', async () => {
  const pkg = await loadPackage(await synthFixture({ layers: L, dModel: D, heads: H }));
  const dims = pkg.manifest.dims;
  for (const id of ['L0.0', 'L0.1', 'L1.0', 'L1.1']) {
    const e = await openExpert(pkg, id);
    assert.equal(await checkProbe(e, pkg.expert(id).probe, dims), true, id);
    const other = id === 'L0.0' ? 'L0.1' : 'L0.0';
    assert.equal(await checkProbe(e, pkg.expert(other).probe, dims), false, `${id} vs ${other}'s probe`);
    await e.release();
  }
});

test('a d_model 1024 package builds and runs stem → expert → head', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpath-synth-1024-'));
  try {
    await synthPackage({ out: dir, dModel: 1024, heads: 16, layers: 1, levels: [1], maxContext: 64 });
    const pkg = await loadPackage(dir);
    const [stem, e, head] = await Promise.all([openStem(pkg), openExpert(pkg, 'L0.0'), openHead(pkg)]);
    const T = 3;
    const hidden = await stem.run(BigInt64Array.of(104n, 105n, 33n), BigInt64Array.of(0n, 1n, 2n), 1, T);
    assert.deepEqual(hidden.dims, [1, T, 1024]);
    const out = await e.run(hidden, { data: new Float32Array(0), dims: [1, 0, 1, 2, 16, 64] }, ones(1, T));
    const logits = await head.run(out.hiddenOut);
    assert.deepEqual(logits.dims, [1, T, 256]);
    assert.ok(logits.data.every(Number.isFinite));
    assert.equal(await checkProbe(e, pkg.expert('L0.0').probe, pkg.manifest.dims), true);
    await Promise.all([stem.release(), e.release(), head.release()]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
