/**
 * A minimal ONNX writer: builds a graph (nodes, float32/int64 initializers, typed inputs/outputs) and
 * encodes it as an `onnx.ModelProto` in the protobuf wire format by hand. Only the subset of onnx.proto
 * that synth needs is written (field numbers from onnx/onnx.proto). Large weights are kept as separate
 * chunks and never copied until the final write.
 */

/** Byte chunks of an encoded message and their total length. */
interface Enc { chunks: Uint8Array[]; len: number }

const enc = (): Enc => ({ chunks: [], len: 0 });
function push(e: Enc, b: Uint8Array): void { e.chunks.push(b); e.len += b.length; }

function varint(v: number | bigint): Uint8Array {
  let x = typeof v === 'bigint' ? BigInt.asUintN(64, v) : v < 0 ? BigInt.asUintN(64, BigInt(v)) : v;
  const out: number[] = [];
  if (typeof x === 'number') {
    while (x >= 0x80) { out.push((x % 0x80) | 0x80); x = Math.floor(x / 0x80); }
    out.push(x);
  } else {
    while (x >= 0x80n) { out.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
    out.push(Number(x));
  }
  return Uint8Array.from(out);
}

const tag = (field: number, wire: number) => varint(field * 8 + wire);
function fVarint(e: Enc, field: number, v: number | bigint): void { push(e, tag(field, 0)); push(e, varint(v)); }
function fBytes(e: Enc, field: number, b: Uint8Array): void { push(e, tag(field, 2)); push(e, varint(b.length)); push(e, b); }
function fString(e: Enc, field: number, s: string): void { fBytes(e, field, new TextEncoder().encode(s)); }
function fMsg(e: Enc, field: number, m: Enc): void {
  push(e, tag(field, 2)); push(e, varint(m.len));
  for (const c of m.chunks) push(e, c);
}
function fFloat(e: Enc, field: number, v: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  push(e, tag(field, 5)); push(e, b);
}

export type Dim = number | string;
export type Attr = { f: number } | { i: number } | { ints: number[] } | { s: string };
const DT = { float: 1, int64: 7 } as const;

interface Init { name: string; type: 'float' | 'int64'; dims: readonly number[]; raw: Uint8Array }
interface Node { op: string; inputs: string[]; outputs: string[]; attrs: Record<string, Attr> }
interface Value { name: string; type: 'float' | 'int64'; dims: readonly Dim[] }

/** Builds one ONNX graph; `encode()` returns the serialized ModelProto. */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: Init[] = [];
  private readonly inputs: Value[] = [];
  private readonly outputs: Value[] = [];
  private n = 0;
  readonly name: string;

  constructor(name: string) { this.name = name; }

  input(name: string, type: 'float' | 'int64', dims: readonly Dim[]): string { this.inputs.push({ name, type, dims }); return name; }
  output(name: string, type: 'float' | 'int64', dims: readonly Dim[]): void { this.outputs.push({ name, type, dims }); }

  /** A float32 initializer (the array's bytes are referenced, not copied). */
  f32(name: string, data: Float32Array, dims: readonly number[]): string {
    this.inits.push({ name, type: 'float', dims, raw: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** An int64 initializer. */
  i64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const a = BigInt64Array.from(values, (v) => BigInt(v));
    this.inits.push({ name, type: 'int64', dims, raw: new Uint8Array(a.buffer) });
    return name;
  }

  /** A float32 scalar constant. */
  scalar(value: number, name = `c${this.n++}`): string { return this.f32(name, Float32Array.of(value), []); }

  /** Adds a node; returns its first output's name (`out` or a fresh one). */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, out?: string | string[]): string {
    const outputs = Array.isArray(out) ? out : [out ?? `${op.toLowerCase()}_${this.n++}`];
    this.nodes.push({ op, inputs, outputs, attrs });
    return outputs[0];
  }

  /** The serialized ModelProto (IR version 8, default-domain opset `opset`). */
  encode(opset = 17): Uint8Array {
    const g = enc();
    for (const nd of this.nodes) fMsg(g, 1, encNode(nd));
    fString(g, 2, this.name);
    for (const t of this.inits) fMsg(g, 5, encTensor(t));
    for (const v of this.inputs) fMsg(g, 11, encValue(v));
    for (const v of this.outputs) fMsg(g, 12, encValue(v));
    const m = enc();
    fVarint(m, 1, 8);
    fString(m, 2, 'swarmpath-synth');
    const os = enc();
    fString(os, 1, '');
    fVarint(os, 2, opset);
    fMsg(m, 8, os);
    fMsg(m, 7, g);
    const out = new Uint8Array(m.len);
    let off = 0;
    for (const c of m.chunks) { out.set(c, off); off += c.length; }
    return out;
  }
}

function encNode(nd: Node): Enc {
  const e = enc();
  for (const i of nd.inputs) fString(e, 1, i);
  for (const o of nd.outputs) fString(e, 2, o);
  fString(e, 4, nd.op);
  for (const [name, a] of Object.entries(nd.attrs)) {
    const ae = enc();
    fString(ae, 1, name);
    if ('f' in a) { fFloat(ae, 2, a.f); fVarint(ae, 20, 1); }
    else if ('i' in a) { fVarint(ae, 3, a.i); fVarint(ae, 20, 2); }
    else if ('s' in a) { fString(ae, 4, a.s); fVarint(ae, 20, 3); }
    else { for (const v of a.ints) fVarint(ae, 8, v); fVarint(ae, 20, 7); }
    fMsg(e, 5, ae);
  }
  return e;
}

function encTensor(t: Init): Enc {
  const e = enc();
  for (const d of t.dims) fVarint(e, 1, d);
  fVarint(e, 2, DT[t.type]);
  fString(e, 8, t.name);
  fBytes(e, 9, t.raw);
  return e;
}

function encValue(v: Value): Enc {
  const shape = enc();
  for (const d of v.dims) {
    const de = enc();
    if (typeof d === 'number') fVarint(de, 1, d); else fString(de, 2, d);
    fMsg(shape, 1, de);
  }
  const tt = enc();
  fVarint(tt, 1, DT[v.type]);
  fMsg(tt, 2, shape);
  const tp = enc();
  fMsg(tp, 1, tt);
  const e = enc();
  fString(e, 1, v.name);
  fMsg(e, 2, tp);
  return e;
}
