/**
 * Parity of the bundled package models/swarmpath-tiny with the torch model it was exported from.
 *
 * Fixture test/fixtures/model/parity.json holds torch float32 logits of the last 3 positions of a
 * fixed 20-byte sequence on one path (and on the dense baseline), written by models/build/export.py.
 * Rule: elementwise |onnx - torch| <= 1e-4 * max(1, max_v |torch_v|) over each position's V logits.
 * Also checks the KV-cache contract (prefill + decode with the host's cache layout across a capacity
 * growth, right-padded batches) and that
 * every expert reproduces its manifest probe (docs/model-format.md tolerance).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Manifest } from '../../../shared/manifest.ts';
import { appendKv, copyIntoBatch, createKvCache, emptyPast, maskOf, pastOf } from '../../../shared/model/kv-cache.ts';
import { fingerprint, fingerprintMatches, probeInput } from '../../../shared/model/probe.ts';
import type { PastKv } from '../../../shared/runtime-types.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const PKG = join(ROOT, 'models', 'swarmpath-tiny');
const manifestBytes = readFileSync(join(PKG, 'manifest.json'));
const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'model', 'parity.json'), 'utf8')) as {
  manifest_sha256: string; tokens: number[]; path: string[]; last_positions: number;
  logits: number[][]; dense_logits: number[][];
};
const { d_model: D, n_heads: H, head_dim: Dh, vocab_size: V } = manifest.dims;

const sessions = new Map<string, ort.InferenceSession>();
async function session(file: string): Promise<ort.InferenceSession> {
  let s = sessions.get(file);
  if (!s) {
    s = await ort.InferenceSession.create(join(PKG, file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    sessions.set(file, s);
  }
  return s;
}

function expertFile(id: string): { file: string; layers: number } {
  for (const level of manifest.levels) for (const e of level.experts) if (e.id === id) return e;
  throw new Error(`no expert ${id}`);
}

async function stem(file: string, tokens: number[][], start: number[]): Promise<ort.Tensor> {
  const B = tokens.length;
  const T = tokens[0].length;
  const tok = new BigInt64Array(B * T);
  const pos = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) { tok[b * T + t] = BigInt(tokens[b][t]); pos[b * T + t] = BigInt(start[b] + t); }
  }
  const out = await (await session(file)).run({
    tokens: new ort.Tensor('int64', tok, [B, T]), positions: new ort.Tensor('int64', pos, [B, T]),
  });
  return out.hidden;
}

/** One expert call by the file's input names: hidden, mask [B,C+T], past_key_l / past_value_l [B,H,C,Dh]. */
async function expert(file: string, layers: number, hidden: ort.Tensor, past: PastKv, mask: Float32Array): Promise<{ hidden: ort.Tensor; kv: ort.Tensor }> {
  const [B, T] = hidden.dims;
  const feeds: Record<string, ort.Tensor> = { hidden, mask: new ort.Tensor('float32', mask, [B, past.slots + T]) };
  for (let l = 0; l < layers; l++) {
    feeds[`past_key_${l}`] = new ort.Tensor('float32', past.keys[l], [B, H, past.slots, Dh]);
    feeds[`past_value_${l}`] = new ort.Tensor('float32', past.values[l], [B, H, past.slots, Dh]);
  }
  const s = await session(file);
  assert.deepEqual([...s.inputNames].sort(), Object.keys(feeds).sort(), `${file} inputs`);
  const out = await s.run(feeds);
  assert.deepEqual(out.hidden_out.dims, [B, T, D]);
  assert.deepEqual(out.new_kv.dims, [B, layers, 2, H, T, Dh]);
  return { hidden: out.hidden_out, kv: out.new_kv };
}

async function head(file: string, hidden: ort.Tensor): Promise<Float32Array> {
  const out = await (await session(file)).run({ hidden });
  assert.deepEqual(out.logits.dims, [hidden.dims[0], hidden.dims[1], V]);
  return out.logits.data as Float32Array;
}

/** Stateless forward (P = 0) of one sequence through stem, blocks, head: logits [T*V]. */
async function forward(stemFile: string, blocks: { file: string; layers: number }[], headFile: string,
  tokens: number[]): Promise<Float32Array> {
  let h = await stem(stemFile, [tokens], [0]);
  for (const b of blocks) {
    h = (await expert(b.file, b.layers, h, emptyPast(b.layers, 1), new Float32Array(tokens.length).fill(1))).hidden;
  }
  return head(headFile, h);
}

function assertClose(got: Float32Array, gotOffset: number, want: number[], what: string): void {
  let scale = 1;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  for (let v = 0; v < want.length; v++) {
    const diff = Math.abs(got[gotOffset + v] - want[v]);
    assert.ok(diff <= 1e-4 * scale, `${what}: logit ${v} onnx ${got[gotOffset + v]} torch ${want[v]} (|diff| ${diff})`);
  }
}

function assertLastPositions(logits: Float32Array, T: number, want: number[][], what: string): void {
  const n = want.length;
  for (let i = 0; i < n; i++) assertClose(logits, (T - n + i) * V, want[i], `${what} position ${T - n + i}`);
}

test('the parity fixture was written from this package', () => {
  assert.equal(createHash('sha256').update(manifestBytes).digest('hex'), fixture.manifest_sha256);
  assert.equal(fixture.logits.length, fixture.last_positions);
  assert.equal(fixture.logits[0].length, V);
});

test('path logits match torch (stateless forward, P = 0)', async () => {
  const blocks = fixture.path.map(expertFile);
  const logits = await forward(manifest.stem.file, blocks, manifest.head.file, fixture.tokens);
  assertLastPositions(logits, fixture.tokens.length, fixture.logits, 'path');
});

test('dense baseline logits match torch', async () => {
  const dense = manifest.eval?.dense;
  assert.ok(dense, 'manifest has eval.dense');
  const logits = await forward(dense.stem.file, [{ file: dense.blocks.file, layers: dense.layers }], dense.head.file,
    fixture.tokens);
  assertLastPositions(logits, fixture.tokens.length, fixture.dense_logits, 'dense');
});

test('prefill then decode on the host cache layout gives the same logits, across a capacity growth', async () => {
  const blocks = fixture.path.map(expertFile);
  // The fixture's sequence, behind 50 more tokens of prefix, so that decoding crosses the 64-slot capacity step.
  const lead = Array.from({ length: 50 }, (_, i) => fixture.tokens[i % fixture.tokens.length]);
  const toks = [...lead, ...fixture.tokens];
  const n = 20;
  const P = toks.length - n;
  const caches = blocks.map((b) => createKvCache({ layers: b.layers, nHeads: H, headDim: Dh }, toks.length));
  const step = async (x: ort.Tensor, T: number) => {
    for (let j = 0; j < blocks.length; j++) {
      const r = await expert(blocks[j].file, blocks[j].layers, x, pastOf(caches[j]), maskOf(caches[j], T).data);
      appendKv(caches[j], r.kv.data as Float32Array, T);
      x = r.hidden;
    }
    return head(manifest.head.file, x);
  };
  await step(await stem(manifest.stem.file, [toks.slice(0, P)], [0]), P);
  assert.equal(caches[0].capacity, 64);
  // Reference: the whole sequence statelessly; each decoded position must match it.
  const full = await forward(manifest.stem.file, blocks, manifest.head.file, toks);
  for (let p = P; p < toks.length; p++) {
    const logits = await step(await stem(manifest.stem.file, [[toks[p]]], [p]), 1);
    const want = Array.from(full.subarray(p * V, (p + 1) * V));
    assertClose(logits, 0, want, `decode position ${p}`);
  }
  assert.equal(caches[0].capacity, toks.length, 'grown past 64 (capped at max_length)');
  // And the last positions match torch.
  const last = await forward(manifest.stem.file, blocks, manifest.head.file, fixture.tokens);
  assertLastPositions(last, fixture.tokens.length, fixture.logits, 'path');
});

test('a right-padded batch row gives the same logits as the row alone', async () => {
  // Row 0 has all 20 tokens cached but the last; row 1 only 4, padded to the same number of slots.
  const e = expertFile(fixture.path[0]);
  const toks = fixture.tokens;
  const long = toks.length - 1;
  const short = 4;
  const shortToks = toks.slice(toks.length - short - 1);
  const shape = { layers: e.layers, nHeads: H, headDim: Dh };
  const prefill = async (seq: number[]) => {
    const h = await stem(manifest.stem.file, [seq], [0]);
    const c = createKvCache(shape, 32);
    appendKv(c, (await expert(e.file, e.layers, h, emptyPast(e.layers, 1), new Float32Array(seq.length).fill(1))).kv.data as Float32Array, seq.length);
    return c;
  };
  const cLong = await prefill(toks.slice(0, long));
  const cShort = await prefill(shortToks.slice(0, short));
  const n = 2 * H * long * Dh;
  const past: PastKv = { rows: 2, slots: long, keys: [], values: [] };
  for (let l = 0; l < e.layers; l++) { (past.keys as Float32Array[]).push(new Float32Array(n).fill(9)); (past.values as Float32Array[]).push(new Float32Array(n).fill(-9)); }
  copyIntoBatch(cLong, past, 0);
  copyIntoBatch(cShort, past, 1); // row 1: slots 0..short-1, then 9 / -9 (padding the mask hides)
  const mask = new Float32Array(2 * (long + 1));
  for (let p = 0; p < long; p++) mask[p] = 1;
  mask[long] = 1;
  for (let p = 0; p < short; p++) mask[long + 1 + p] = 1;
  mask[2 * long + 1] = 1;
  const x = await stem(manifest.stem.file, [[toks[long]], [shortToks[short]]], [long, short]);
  const batched = await expert(e.file, e.layers, x, past, mask);
  const xs = await stem(manifest.stem.file, [[shortToks[short]]], [short]);
  const alone = await expert(e.file, e.layers, xs, pastOf(cShort), maskOf(cShort, 1).data);
  const b = batched.hidden.data as Float32Array;
  const a = alone.hidden.data as Float32Array;
  for (let i = 0; i < D; i++) assert.ok(Math.abs(b[D + i] - a[i]) <= 1e-4 * Math.max(1, Math.abs(a[i])), `hidden ${i}`);
  const perRow = e.layers * 2 * H * Dh; // new_kv [B, L, 2, H, T=1, Dh]
  const kb = batched.kv.data as Float32Array;
  const ka = alone.kv.data as Float32Array;
  for (let i = 0; i < perRow; i++) assert.ok(Math.abs(kb[perRow + i] - ka[i]) <= 1e-4 * Math.max(1, Math.abs(ka[i])), `kv ${i}`);
});

test('every expert reproduces its manifest probe', async () => {
  for (const level of manifest.levels) {
    for (const e of level.experts) {
      const { seed, tokens } = e.probe;
      const h = new ort.Tensor('float32', probeInput(seed, tokens, D), [1, tokens, D]);
      const out = await expert(e.file, e.layers, h, emptyPast(e.layers, 1), new Float32Array(tokens).fill(1));
      const got = fingerprint(seed, out.hidden.data as Float32Array);
      assert.ok(fingerprintMatches(got, e.probe.fingerprint), `${e.id}: got ${got} want ${e.probe.fingerprint}`);
    }
  }
});

test('a probe fails for the wrong expert', async () => {
  // The check can fail: L0.1's output does not match L0.0's fingerprint.
  const [a, b] = manifest.levels[0].experts;
  const h = new ort.Tensor('float32', probeInput(a.probe.seed, a.probe.tokens, D), [1, a.probe.tokens, D]);
  const out = await expert(b.file, b.layers, h, emptyPast(b.layers, 1), new Float32Array(a.probe.tokens).fill(1));
  assert.equal(fingerprintMatches(fingerprint(a.probe.seed, out.hidden.data as Float32Array), a.probe.fingerprint), false);
});
