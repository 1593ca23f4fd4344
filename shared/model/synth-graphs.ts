/**
 * ONNX graphs of the contract in docs/model-format.md ("ONNX contract") with random weights: the stem
 * (token + learned position embeddings), an expert (pre-LN GPT-2 blocks with past_kv / mask / new_kv,
 * causal + padding mask) and the head (LayerNorm + untied linear map). Used by `swarmpath synth`.
 */
import { GraphBuilder } from './onnx-writer.ts';
import type { Rng } from './rng.ts';

export interface GraphDims { d: number; h: number; dh: number; vocab: number; maxContext: number }

/** Normal(0, std) weights. */
function randn(rng: Rng, n: number, std: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  return a;
}

function ones(n: number, rng: Rng, jitter: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = 1 + rng.normal() * jitter;
  return a;
}

/** stem: tokens [B,T], positions [B,T] (int64) → hidden [B,T,D]. */
export function stemGraph(dims: GraphDims, rng: Rng): Uint8Array {
  const g = new GraphBuilder('stem');
  const tokens = g.input('tokens', 'int64', ['B', 'T']);
  const positions = g.input('positions', 'int64', ['B', 'T']);
  const te = g.f32('tok_emb', randn(rng, dims.vocab * dims.d, 1), [dims.vocab, dims.d]);
  const pe = g.f32('pos_emb', randn(rng, dims.maxContext * dims.d, 0.3), [dims.maxContext, dims.d]);
  const a = g.node('Gather', [te, tokens], { axis: { i: 0 } });
  const b = g.node('Gather', [pe, positions], { axis: { i: 0 } });
  g.node('Add', [a, b], {}, 'hidden');
  g.output('hidden', 'float', ['B', 'T', dims.d]);
  return g.encode();
}

/** head: hidden [B,T,D] → logits [B,T,V]. */
export function headGraph(dims: GraphDims, rng: Rng): Uint8Array {
  const g = new GraphBuilder('head');
  const x = g.input('hidden', 'float', ['B', 'T', dims.d]);
  const ln = layerNorm(g, x, 'lnf', dims.d, rng);
  const w = g.f32('w_out', randn(rng, dims.d * dims.vocab, 1 / Math.sqrt(dims.d)), [dims.d, dims.vocab]);
  const bias = g.f32('b_out', randn(rng, dims.vocab, 0.1), [dims.vocab]);
  g.node('Add', [g.node('MatMul', [ln, w]), bias], {}, 'logits');
  g.output('logits', 'float', ['B', 'T', dims.vocab]);
  return g.encode();
}

function layerNorm(g: GraphBuilder, x: string, name: string, d: number, rng: Rng): string {
  const gamma = g.f32(`${name}_g`, ones(d, rng, 0.05), [d]);
  const beta = g.f32(`${name}_b`, randn(rng, d, 0.05), [d]);
  return g.node('LayerNormalization', [x, gamma, beta], { axis: { i: -1 }, epsilon: { f: 1e-5 } });
}

function linear(g: GraphBuilder, x: string, name: string, nIn: number, nOut: number, rng: Rng, scale = 1): string {
  const w = g.f32(`${name}_w`, randn(rng, nIn * nOut, scale / Math.sqrt(nIn)), [nIn, nOut]);
  const b = g.f32(`${name}_b`, randn(rng, nOut, 0.02), [nOut]);
  return g.node('Add', [g.node('MatMul', [x, w]), b]);
}

/**
 * The additive attention bias [B,1,T,P+T]: `(1 - mask) * -1e9` plus -1e9 where a new position t
 * (absolute index P + t among the keys) would see a later key. Never -inf, so no NaN.
 */
function attentionBias(g: GraphBuilder): string {
  const neg = g.scalar(-1e9, 'neg_big');
  const one = g.scalar(1, 'one');
  const pad = g.node('Unsqueeze', [g.node('Mul', [g.node('Sub', [one, 'mask']), neg]), g.i64('axes_12', [1, 2])]);
  const idx1 = g.i64('idx1', [1], []);
  const P = g.node('Gather', [g.node('Shape', ['past_kv']), idx1], { axis: { i: 0 } });
  const T = g.node('Gather', [g.node('Shape', ['hidden']), idx1], { axis: { i: 0 } });
  const S = g.node('Add', [P, T]);
  const step = g.i64('one_i', [1], []);
  const keys = g.node('Unsqueeze', [g.node('Range', [g.i64('zero_i', [0], []), S, step]), g.i64('axes_0', [0])]);
  const queries = g.node('Unsqueeze', [g.node('Range', [P, S, step]), g.i64('axes_1', [1])]);
  const causal = g.node('Where', [g.node('Greater', [keys, queries]), neg, g.scalar(0, 'zero')]);
  return g.node('Add', [pad, causal], {}, 'attn_bias');
}

/** One pre-LN block; returns the new residual stream and the layer's new K/V [B,T,1,2,H,Dh]. */
function block(g: GraphBuilder, x: string, l: number, bias: string, dims: GraphDims, rng: Rng): { x: string; kv: string } {
  const { d, h, dh } = dims;
  const p = `l${l}`;
  const qkv = g.node('Reshape', [linear(g, layerNorm(g, x, `${p}_ln1`, d, rng), `${p}_qkv`, d, 3 * d, rng), g.i64(`${p}_shape5`, [0, 0, 3, h, dh])]);
  const q = g.node('Gather', [qkv, g.i64(`${p}_i0`, [0], [])], { axis: { i: 2 } });
  const kvNew = g.node('Slice', [qkv, g.i64(`${p}_s1`, [1]), g.i64(`${p}_e3`, [3]), g.i64(`${p}_ax2`, [2])]);
  const past = g.node('Gather', ['past_kv', g.i64(`${p}_layer`, [l], [])], { axis: { i: 2 } });
  const full = g.node('Concat', [past, kvNew], { axis: { i: 1 } });
  const k = g.node('Gather', [full, g.i64(`${p}_k`, [0], [])], { axis: { i: 2 } });
  const v = g.node('Gather', [full, g.i64(`${p}_v`, [1], [])], { axis: { i: 2 } });
  const qT = g.node('Transpose', [q], { perm: { ints: [0, 2, 1, 3] } });
  const kT = g.node('Transpose', [k], { perm: { ints: [0, 2, 3, 1] } });
  const vT = g.node('Transpose', [v], { perm: { ints: [0, 2, 1, 3] } });
  const scores = g.node('Add', [g.node('Mul', [g.node('MatMul', [qT, kT]), g.scalar(1 / Math.sqrt(dh))]), bias]);
  const attn = g.node('MatMul', [g.node('Softmax', [scores], { axis: { i: -1 } }), vT]);
  const merged = g.node('Reshape', [g.node('Transpose', [attn], { perm: { ints: [0, 2, 1, 3] } }), g.i64(`${p}_shape3`, [0, 0, d])]);
  const x1 = g.node('Add', [x, linear(g, merged, `${p}_o`, d, d, rng, 0.5)]);
  const m = linear(g, layerNorm(g, x1, `${p}_ln2`, d, rng), `${p}_fc1`, d, 4 * d, rng);
  const gelu = g.node('Mul', [g.node('Mul', [m, g.scalar(0.5)]), g.node('Add', [g.scalar(1), g.node('Erf', [g.node('Mul', [m, g.scalar(Math.SQRT1_2)])])])]);
  const x2 = g.node('Add', [x1, linear(g, gelu, `${p}_fc2`, 4 * d, d, rng, 0.5)]);
  return { x: x2, kv: g.node('Unsqueeze', [kvNew, g.i64(`${p}_ax2u`, [2])]) };
}

/** expert: hidden [B,T,D], past_kv [B,P,L,2,H,Dh], mask [B,P+T] → hidden_out [B,T,D], new_kv [B,T,L,2,H,Dh]. */
export function expertGraph(dims: GraphDims, layers: number, rng: Rng, name = 'expert'): Uint8Array {
  const g = new GraphBuilder(name);
  let x = g.input('hidden', 'float', ['B', 'T', dims.d]);
  g.input('past_kv', 'float', ['B', 'P', layers, 2, dims.h, dims.dh]);
  g.input('mask', 'float', ['B', 'S']);
  const bias = attentionBias(g);
  const kvs: string[] = [];
  for (let l = 0; l < layers; l++) {
    const b = block(g, x, l, bias, dims, rng);
    x = b.x;
    kvs.push(b.kv);
  }
  g.node('Identity', [x], {}, 'hidden_out');
  g.node('Concat', kvs, { axis: { i: 2 } }, 'new_kv');
  g.output('hidden_out', 'float', ['B', 'T', dims.d]);
  g.output('new_kv', 'float', ['B', 'T', layers, 2, dims.h, dims.dh]);
  return g.encode();
}
