/**
 * ONNX graphs of the contract in docs/model-format.md ("ONNX contract") with random weights: the stem
 * (token + learned position embeddings), an expert (pre-LN GPT-2 blocks with per-layer head-major
 * past_key/past_value slots, mask and new_kv; causal + padding mask) and the head (LayerNorm + untied linear map). Used by `swarmpath synth`.
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

/** Additive attention biases of the contract: `(1 - mask) * -1e9` over the C slots, and over the T new positions also -1e9 where a query would see a later key. */
interface Biases {
  /** [B,1,1,C] */
  past: string;
  /** [B,1,T,T] */
  next: string;
  /** C as a 1-D [1] tensor (to slice the mask and the attention weights). */
  c1: string;
}

function attentionBiases(g: GraphBuilder): Biases {
  const neg = g.scalar(-1e9, 'neg_big');
  const one = g.scalar(1, 'one');
  const c1 = g.node('Gather', [g.node('Shape', ['past_key_0']), g.i64('idx2', [2])], { axis: { i: 0 } });
  const axis1 = g.i64('axis1', [1]);
  const maskPast = g.node('Slice', ['mask', g.i64('zero1', [0]), c1, axis1]);
  const maskNew = g.node('Slice', ['mask', c1, g.i64('end1', [Number.MAX_SAFE_INTEGER]), axis1]);
  const axes12 = g.i64('axes_12', [1, 2]);
  const past = g.node('Unsqueeze', [g.node('Mul', [g.node('Sub', [one, maskPast]), neg]), axes12], {}, 'bias_past');
  const T = g.node('Gather', [g.node('Shape', ['hidden']), g.i64('idx1', [1], [])], { axis: { i: 0 } });
  const step = g.i64('one_i', [1], []);
  const range = g.node('Range', [g.i64('zero_i', [0], []), T, step]);
  const keys = g.node('Unsqueeze', [range, g.i64('axes_0', [0])]);
  const queries = g.node('Unsqueeze', [range, g.i64('axes_1', [1])]);
  const causal = g.node('Cast', [g.node('Not', [g.node('Greater', [keys, queries])])], { to: { i: 1 } });
  const keep = g.node('Mul', [causal, g.node('Unsqueeze', [maskNew, axes12])]);
  const next = g.node('Mul', [g.node('Sub', [one, keep]), neg], {}, 'bias_new');
  return { past, next, c1 };
}

/** One pre-LN block; returns the new residual stream and the layer's new K/V [B,1,2,H,T,Dh]. */
function block(g: GraphBuilder, x: string, l: number, bias: Biases, dims: GraphDims, rng: Rng): { x: string; kv: string } {
  const { d, h, dh } = dims;
  const p = `l${l}`;
  const qkv = g.node('Reshape', [linear(g, layerNorm(g, x, `${p}_ln1`, d, rng), `${p}_qkv`, d, 3 * d, rng), g.i64(`${p}_shape5`, [0, 0, 3, h, dh])]);
  const heads = (i: number) => g.node('Transpose', [g.node('Gather', [qkv, g.i64(`${p}_i${i}`, [i], [])], { axis: { i: 2 } })], { perm: { ints: [0, 2, 1, 3] } });
  const q = g.node('Mul', [heads(0), g.scalar(1 / Math.sqrt(dh))]); // [B,H,T,Dh]
  const k = heads(1);
  const v = heads(2);
  const swap = { perm: { ints: [0, 1, 3, 2] } };
  // Scores against the cache as K·qᵀ, so the cache is read in place; then side by side with the new keys' scores.
  const sPast = g.node('Add', [g.node('Transpose', [g.node('MatMul', [`past_key_${l}`, g.node('Transpose', [q], swap)])], swap), bias.past]);
  const sNew = g.node('Add', [g.node('MatMul', [q, g.node('Transpose', [k], swap)]), bias.next]);
  const att = g.node('Softmax', [g.node('Concat', [sPast, sNew], { axis: { i: 3 } })], { axis: { i: -1 } });
  const axis3 = g.i64(`${p}_ax3`, [3]);
  const attPast = g.node('Slice', [att, g.i64(`${p}_z`, [0]), bias.c1, axis3]);
  const attNew = g.node('Slice', [att, bias.c1, g.i64(`${p}_end`, [Number.MAX_SAFE_INTEGER]), axis3]);
  const y = g.node('Add', [g.node('MatMul', [attPast, `past_value_${l}`]), g.node('MatMul', [attNew, v])]);
  const merged = g.node('Reshape', [g.node('Transpose', [y], { perm: { ints: [0, 2, 1, 3] } }), g.i64(`${p}_shape3`, [0, 0, d])]);
  const x1 = g.node('Add', [x, linear(g, merged, `${p}_o`, d, d, rng, 0.5)]);
  const m = linear(g, layerNorm(g, x1, `${p}_ln2`, d, rng), `${p}_fc1`, d, 4 * d, rng);
  const gelu = g.node('Mul', [g.node('Mul', [m, g.scalar(0.5)]), g.node('Add', [g.scalar(1), g.node('Erf', [g.node('Mul', [m, g.scalar(Math.SQRT1_2)])])])]);
  const x2 = g.node('Add', [x1, linear(g, gelu, `${p}_fc2`, 4 * d, d, rng, 0.5)]);
  const ax1 = g.i64(`${p}_ax1`, [1]);
  const pair = g.node('Concat', [g.node('Unsqueeze', [k, ax1]), g.node('Unsqueeze', [v, ax1])], { axis: { i: 1 } });
  return { x: x2, kv: g.node('Unsqueeze', [pair, ax1]) };
}

/**
 * expert: hidden [B,T,D], mask [B,C+T], past_key_l / past_value_l [B,H,C,Dh] for each layer
 * → hidden_out [B,T,D], new_kv [B,L,2,H,T,Dh].
 */
export function expertGraph(dims: GraphDims, layers: number, rng: Rng, name = 'expert'): Uint8Array {
  const g = new GraphBuilder(name);
  let x = g.input('hidden', 'float', ['B', 'T', dims.d]);
  g.input('mask', 'float', ['B', 'S']);
  for (let l = 0; l < layers; l++) {
    g.input(`past_key_${l}`, 'float', ['B', dims.h, 'C', dims.dh]);
    g.input(`past_value_${l}`, 'float', ['B', dims.h, 'C', dims.dh]);
  }
  const bias = attentionBiases(g);
  const kvs: string[] = [];
  for (let l = 0; l < layers; l++) {
    const b = block(g, x, l, bias, dims, rng);
    x = b.x;
    kvs.push(b.kv);
  }
  g.node('Identity', [x], {}, 'hidden_out');
  g.node('Concat', kvs, { axis: { i: 1 } }, 'new_kv');
  g.output('hidden_out', 'float', ['B', 'T', dims.d]);
  g.output('new_kv', 'float', ['B', layers, 2, dims.h, 'T', dims.dh]);
  return g.encode();
}
