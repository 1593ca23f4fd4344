/**
 * Tensors on the wire (proto `Tensor`): raw little-endian bytes with a dtype and a shape, never JSON.
 * Activations travel as FLOAT32 or FLOAT16; the host computes in float32. Decoding validates dtype,
 * shape and byte length against what the caller expects, and returns a Float32Array that is a view of
 * the received bytes (no copy) when they are float32 and 4-byte aligned.
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { InvalidArgumentError } from '../errors.ts';
import type { F32 } from '../runtime-types.ts';
import type { WireDtype } from '../transport-types.ts';
import { float16ToFloat32, float32ToFloat16 } from './float16.ts';
import type { EncodedTensor, TensorMsg, ProtoDType } from './wire-types.ts';

if (endianness() !== 'LE') throw new Error('swarmpath tensors are little-endian; this machine is big-endian');

const DTYPE_NAMES: Record<number, ProtoDType> = { 0: 'DTYPE_UNSPECIFIED', 1: 'FLOAT32', 2: 'FLOAT16', 3: 'INT64' };

/** The proto enum name of a wire dtype. */
export function protoDtype(d: WireDtype | undefined): ProtoDType {
  return d === 'float16' ? 'FLOAT16' : 'FLOAT32';
}

/** The wire dtype of a proto enum value; undefined for unspecified or non-activation dtypes. */
export function wireDtypeOf(d: ProtoDType | number | undefined | null): WireDtype | undefined {
  const name = typeof d === 'number' ? DTYPE_NAMES[d] : d;
  return name === 'FLOAT32' ? 'float32' : name === 'FLOAT16' ? 'float16' : undefined;
}

/** SHA-256 of a tensor's float32 values (SessionStepResult.input_digest: host and router compute it alike). */
export function tensorDigest(t: F32): Buffer {
  const n = t.dims.reduce((a, b) => a * b, 1);
  return createHash('sha256').update(new Uint8Array(t.data.buffer, t.data.byteOffset, n * 4)).digest();
}

/** Encodes a float32 tensor as `dtype` (float32: a view of the same memory, no copy). */
export function encodeTensor(t: F32, dtype: WireDtype = 'float32'): EncodedTensor {
  const shape = [...t.dims];
  if (dtype === 'float16') {
    const half = float32ToFloat16(t.data);
    return { dtype: 'FLOAT16', shape, data: Buffer.from(half.buffer, half.byteOffset, half.byteLength) };
  }
  return { dtype: 'FLOAT32', shape, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
}

/**
 * Decodes and validates a wire tensor. `expectedDims` lists the rank's sizes; `null` accepts any
 * positive size in that place. Throws InvalidArgumentError naming `what` and the problem.
 */
export function decodeTensor(msg: TensorMsg | null | undefined, expectedDims?: readonly (number | null)[],
  what = 'tensor'): F32 {
  if (!msg) throw new InvalidArgumentError(`${what}: missing tensor`);
  const dtype = typeof msg.dtype === 'number' ? DTYPE_NAMES[msg.dtype] ?? `dtype ${msg.dtype}` : msg.dtype;
  if (dtype !== 'FLOAT32' && dtype !== 'FLOAT16') {
    throw new InvalidArgumentError(`${what}: dtype must be FLOAT32 or FLOAT16, got ${dtype}`);
  }
  const shape = msg.shape ?? [];
  checkShape(shape, expectedDims, what);
  let n = 1;
  for (const d of shape) n *= d;
  const width = dtype === 'FLOAT32' ? 4 : 2;
  const data = msg.data ?? Buffer.alloc(0);
  if (data.byteLength !== n * width) {
    throw new InvalidArgumentError(`${what}: shape [${shape.join(',')}] of ${dtype} needs ${n * width} bytes, got ${data.byteLength}`);
  }
  if (dtype === 'FLOAT16') {
    const halves = data.byteOffset % 2 === 0
      ? new Uint16Array(data.buffer, data.byteOffset, n)
      : new Uint16Array(new Uint8Array(data).buffer, 0, n);
    return { data: float16ToFloat32(halves), dims: shape };
  }
  const floats = data.byteOffset % 4 === 0
    ? new Float32Array(data.buffer, data.byteOffset, n)
    : new Float32Array(new Uint8Array(data).buffer, 0, n);
  return { data: floats, dims: shape };
}

function checkShape(shape: readonly number[], expected: readonly (number | null)[] | undefined, what: string): void {
  const str = `[${shape.join(',')}]`;
  if (expected && shape.length !== expected.length) {
    throw new InvalidArgumentError(`${what}: expected rank ${expected.length} [${expected.map((d) => d ?? '*').join(',')}], got shape ${str}`);
  }
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || d <= 0) throw new InvalidArgumentError(`${what}: dimension ${i} of shape ${str} must be a positive integer`);
    const want = expected?.[i];
    if (want !== undefined && want !== null && d !== want) {
      throw new InvalidArgumentError(`${what}: dimension ${i} of shape ${str} must be ${want}`);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n) || n > 2 ** 31) throw new InvalidArgumentError(`${what}: shape ${str} is too large`);
}
