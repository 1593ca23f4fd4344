/**
 * Parity of the bundled package models/swarmpath-tiny with the torch model it was exported from.
 *
 * Fixture test/fixtures/model/parity.json holds torch float32 logits of the last 3 positions of a
 * fixed 20-byte sequence on one path (and on the dense baseline), written by models/build/export.py.
 * Rule: elementwise |onnx - torch| <= 1e-4 * max(1, max_v |torch_v|) over each position's V logits.
 * Also checks the KV-cache contract (prefill + decode with past_kv, right-padded batches) and that
 * every expert reproduces its manifest probe (docs/model-format.md tolerance).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Manifest } from '../../../shared/manifest.ts';
import { fingerprint, fingerprintMatches, probeInput } from '../../../shared/model/probe.ts';

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

async function expert(file: string, layers: number, hidden: ort.Tensor, past: Float32Array, P: number,
  mask: Float32Array): Promise<{ hidden: ort.Tensor; kv: ort.Tensor }> {
  const [B, T] = hidden.dims;
  const out = await (await session(file)).run({
    hidden, past_kv: new ort.Tensor('float32', past, [B, P, layers, 2, H, Dh]),
    mask: new ort.Tensor('float32', mask, [B, P + T]),
  });
  assert.deepEqual(out.hidden_out.dims, [B, T, D]);
  assert.deepEqual(out.new_kv.dims, [B, T, layers, 2, H, Dh]);
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
    h = (await expert(b.file, b.layers, h, new Float32Array(0), 0, new Float32Array(tokens.length).fill(1))).hidden;
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

test('prefill then decode with past_kv gives the same logits', async () => {
  const blocks = fixture.path.map(expertFile);
  const toks = fixture.tokens;
  const n = fixture.last_positions;
  const P = toks.length - n;
  // Prefill the first P tokens, keeping each expert's new_kv as its cache.
  let h = await stem(manifest.stem.file, [toks.slice(0, P)], [0]);
  const caches: Float32Array[] = [];
  for (const b of blocks) {
    const r = await expert(b.file, b.layers, h, new Float32Array(0), 0, new Float32Array(P).fill(1));
    caches.push(r.kv.data as Float32Array);
    h = r.hidden;
  }
  // Decode the last n tokens one at a time, appending new_kv to the position-major cache.
  for (let i = 0; i < n; i++) {
    const p = P + i;
    let x = await stem(manifest.stem.file, [[toks[p]]], [p]);
    for (let j = 0; j < blocks.length; j++) {
      const r = await expert(blocks[j].file, blocks[j].layers, x, caches[j], p, new Float32Array(p + 1).fill(1));
      const grown = new Float32Array(caches[j].length + (r.kv.data as Float32Array).length);
      grown.set(caches[j]);
      grown.set(r.kv.data as Float32Array, caches[j].length);
      caches[j] = grown;
      x = r.hidden;
    }
    assertClose(await head(manifest.head.file, x), 0, fixture.logits[i], `decode position ${p}`);
  }
});

test('a right-padded batch row gives the same logits as the row alone', async () => {
  // Row 0 has all 20 tokens cached but the last; row 1 only its last 5 but one, padded to the same P.
  const e = expertFile(fixture.path[0]);
  const toks = fixture.tokens;
  const long = toks.length - 1;
  const short = 4;
  const shortToks = toks.slice(toks.length - short - 1);
  const perPos = e.layers * 2 * H * Dh;
  const prefill = async (seq: number[]) => {
    const h = await stem(manifest.stem.file, [seq], [0]);
    return (await expert(e.file, e.layers, h, new Float32Array(0), 0, new Float32Array(seq.length).fill(1))).kv
      .data as Float32Array;
  };
  const kvLong = await prefill(toks.slice(0, long));
  const kvShort = await prefill(shortToks.slice(0, short));
  const past = new Float32Array(2 * long * perPos);
  past.set(kvLong, 0);
  past.set(kvShort, long * perPos); // row 1: positions 0..short-1, then zeros (padding)
  const mask = new Float32Array(2 * (long + 1));
  for (let p = 0; p < long; p++) mask[p] = 1;
  mask[long] = 1;
  for (let p = 0; p < short; p++) mask[long + 1 + p] = 1;
  mask[2 * long + 1] = 1;
  const x = await stem(manifest.stem.file, [[toks[long]], [shortToks[short]]], [long, short]);
  const batched = await expert(e.file, e.layers, x, past, long, mask);
  const xs = await stem(manifest.stem.file, [[shortToks[short]]], [short]);
  const alone = await expert(e.file, e.layers, xs, kvShort, short, new Float32Array(short + 1).fill(1));
  const b = batched.hidden.data as Float32Array;
  const a = alone.hidden.data as Float32Array;
  for (let i = 0; i < D; i++) assert.ok(Math.abs(b[D + i] - a[i]) <= 1e-4 * Math.max(1, Math.abs(a[i])), `hidden ${i}`);
  const kb = batched.kv.data as Float32Array;
  const ka = alone.kv.data as Float32Array;
  for (let i = 0; i < perPos; i++) assert.ok(Math.abs(kb[perPos + i] - ka[i]) <= 1e-4 * Math.max(1, Math.abs(ka[i])), `kv ${i}`);
});

test('every expert reproduces its manifest probe', async () => {
  for (const level of manifest.levels) {
    for (const e of level.experts) {
      const { seed, tokens } = e.probe;
      const h = new ort.Tensor('float32', probeInput(seed, tokens, D), [1, tokens, D]);
      const out = await expert(e.file, e.layers, h, new Float32Array(0), 0, new Float32Array(tokens).fill(1));
      const got = fingerprint(seed, out.hidden.data as Float32Array);
      assert.ok(fingerprintMatches(got, e.probe.fingerprint), `${e.id}: got ${got} want ${e.probe.fingerprint}`);
    }
  }
});

test('a probe fails for the wrong expert', async () => {
  // The check can fail: L0.1's output does not match L0.0's fingerprint.
  const [a, b] = manifest.levels[0].experts;
  const h = new ort.Tensor('float32', probeInput(a.probe.seed, a.probe.tokens, D), [1, a.probe.tokens, D]);
  const out = await expert(b.file, b.layers, h, new Float32Array(0), 0, new Float32Array(a.probe.tokens).fill(1));
  assert.equal(fingerprintMatches(fingerprint(a.probe.seed, out.hidden.data as Float32Array), a.probe.fingerprint), false);
});
