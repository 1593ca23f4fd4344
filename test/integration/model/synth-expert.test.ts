/**
 * The synth expert honours the ONNX contract: decoding with a KV cache (the host's layout, with
 * capacity growth and garbage in free slots) equals a full recompute, batched rows with padding equal
 * unbatched runs, probes match, and a d_model 1024 model runs.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleBatch, splitBatch, type BatchItem } from '../../../expert-host/batch-assembly.ts';
import { appendKv, createKvCache, emptyPast, maskOf, pastOf, positionMajor, type KvCache } from '../../../shared/model/kv-cache.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { BadPackageError } from '../../../shared/errors.ts';
import type { ExpertEntry } from '../../../shared/manifest.ts';
import { GraphBuilder } from '../../../shared/model/onnx-writer.ts';
import { createSession, expertModel, openExpert, openHead, openStem } from '../../../shared/model/ort.ts';
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

const shape = { layers: L, nHeads: H, headDim: DH };
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

/** Writes `v` into every free slot of the cache (slots [length, capacity) of each head): the mask must hide them. */
function scribbleFreeSlots(c: KvCache, v: number): void {
  const block = H * c.maxLength * DH;
  for (let b = 0; b < 2 * L; b++) for (let h = 0; h < H; h++) {
    c.buffer.fill(v, b * block + (h * c.capacity + c.length) * DH, b * block + (h + 1) * c.capacity * DH);
  }
}

/** One step of `hidden` [1,T,D] on cache `c`, as a host runs it: views of the cache in, new keys/values appended. */
async function step(e: ExpertModel, c: KvCache, hidden: Float32Array): Promise<Float32Array> {
  const T = hidden.length / D;
  const out = await e.run({ data: hidden, dims: [1, T, D] }, pastOf(c), maskOf(c, T));
  assert.deepEqual(out.newKv.dims, [1, L, 2, H, T, DH]);
  appendKv(c, out.newKv.data, T);
  return out.hiddenOut.data;
}

test('decode with the KV cache equals a full recompute, across capacity growth and with garbage in free slots', async () => {
  const e = await expert();
  const N = 70, P0 = 60;
  const x = randHidden(N * D, 7);
  const full = await e.run({ data: x, dims: [1, N, D] }, emptyPast(L, 1), ones(1, N));
  assert.deepEqual(full.hiddenOut.dims, [1, N, D]);
  const fullCache = createKvCache(shape, N);
  appendKv(fullCache, full.newKv.data, N);
  const c = createKvCache(shape, 200);
  const pre = await step(e, c, x.slice(0, P0 * D));
  assertClose(pre, full.hiddenOut.data.slice(0, P0 * D), 1e-4, 'prefill hidden');
  assert.equal(c.capacity, 64);
  for (let p = P0; p < N; p++) {
    scribbleFreeSlots(c, 3.5);
    const h = await step(e, c, x.slice(p * D, (p + 1) * D));
    assertClose(h, full.hiddenOut.data.slice(p * D, (p + 1) * D), 1e-4, `decode hidden at ${p}`);
  }
  assert.equal(c.capacity, 128, 'the capacity grew during decoding');
  assertClose(positionMajor(c), positionMajor(fullCache), 1e-4, 'the cached keys and values');
  // The cache must matter: decoding the last token with no history gives a different output.
  const alone = await e.run({ data: x.slice((N - 1) * D), dims: [1, 1, D] }, emptyPast(L, 1), ones(1, 1));
  const diff = alone.hiddenOut.data.reduce((s, v, i) => s + Math.abs(v - full.hiddenOut.data[(N - 1) * D + i]), 0);
  assert.ok(diff > 1e-2, 'attention to the cache changes the output');
  await e.release();
});

test('batched rows (the host batch assembly) equal unbatched runs (decode and prefill)', async () => {
  const e = await expert();
  // Two sessions with caches of 3 and 5 positions, one decode step each.
  const lens = [3, 5];
  const caches = await Promise.all(lens.map(async (n, i) => {
    const c = createKvCache(shape, 16);
    await step(e, c, randHidden(n * D, 10 + i));
    scribbleFreeSlots(c, -7);
    return c;
  }));
  const items: BatchItem[] = lens.map((_, i) => ({ hidden: randHidden(D, 100 + i), rows: 1, T: 1, cache: caches[i] }));
  const singles = [];
  for (const it of items) {
    const a = assembleBatch([it], D, shape);
    singles.push(splitBatch([it], await e.run(a.hidden, a.past, a.mask), D, shape)[0]);
  }
  const a = assembleBatch(items, D, shape);
  assert.equal(a.past.slots, 5);
  const together = splitBatch(items, await e.run(a.hidden, a.past, a.mask), D, shape);
  for (let i = 0; i < 2; i++) {
    assertClose(together[i].hidden, singles[i].hidden, 1e-4, `batched decode row ${i}`);
    assertClose(together[i].newKv, singles[i].newKv, 1e-4, `batched new_kv row ${i}`);
  }
  // Prefill of 3 and 5 tokens in one batch, the shorter right-padded.
  const xa = randHidden(3 * D, 20), xc = randHidden(5 * D, 21);
  const ha = await e.run({ data: xa, dims: [1, 3, D] }, emptyPast(L, 1), ones(1, 3));
  const hc = await e.run({ data: xc, dims: [1, 5, D] }, emptyPast(L, 1), ones(1, 5));
  const bh = new Float32Array(2 * 5 * D).fill(-2);
  bh.set(xa, 0); bh.set(xc, 5 * D);
  const bm = Float32Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
  const bp = await e.run({ data: bh, dims: [2, 5, D] }, emptyPast(L, 2), { data: bm, dims: [2, 5] });
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
    const out = await e.run(hidden, emptyPast(1, 1), ones(1, T));
    const logits = await head.run(out.hiddenOut);
    assert.deepEqual(logits.dims, [1, T, 256]);
    assert.ok(logits.data.every(Number.isFinite));
    assert.equal(await checkProbe(e, pkg.expert('L0.0').probe, pkg.manifest.dims), true);
    await Promise.all([stem.release(), e.release(), head.release()]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an expert file without the contract\'s inputs (the old single past_kv) is refused, naming what it has', async () => {
  const g = new GraphBuilder('old-expert');
  g.input('hidden', 'float', ['B', 'T', D]);
  g.input('past_kv', 'float', ['B', 'P', L, 2, H, DH]);
  g.input('mask', 'float', ['B', 'S']);
  g.node('Identity', ['hidden'], {}, 'hidden_out');
  g.node('Identity', ['past_kv'], {}, 'new_kv');
  g.output('hidden_out', 'float', ['B', 'T', D]);
  g.output('new_kv', 'float', ['B', 'P', L, 2, H, DH]);
  const entry: ExpertEntry = { id: 'L0.0', file: 'experts/L0.0.onnx', sha256: '0'.repeat(64), bytes: 1, layers: L, probe: { seed: 1, tokens: 1, fingerprint: [] } };
  const session = await createSession(g.encode());
  assert.throws(() => expertModel(entry, session, { n_heads: H, head_dim: DH }), (e: unknown) => e instanceof BadPackageError &&
    /experts\/L0.0.onnx is not an expert of this format: it has inputs \[hidden, past_kv, mask\]/.test(e.message) &&
    /past_key_0, past_value_0, past_key_1, past_value_1/.test(e.message));
});
