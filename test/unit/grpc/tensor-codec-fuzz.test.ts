/**
 * Property-based fuzzing of the tensor codec, the first code that touches a peer's tensor bytes:
 * well-formed tensors round-trip exactly (float16 up to its rounding); any garbled tensor message
 * (dtype, shape, byte length, huge, negative, fractional or NaN dimensions, unaligned bytes), and any
 * garbled protobuf bytes of Forward and Session requests as the server deserializes them, are either
 * decoded consistently or refused with INVALID_ARGUMENT: never another error, and never a result
 * larger than the bytes received (a lying shape cannot make the host allocate).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { float16ToFloat32, float32ToFloat16 } from '../../../shared/grpc/float16.ts';
import { expertHostService } from '../../../shared/grpc/proto.ts';
import { decodeTensor, encodeTensor } from '../../../shared/grpc/tensor-codec.ts';

const D = 8;
const dimsArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Runs decode; returns the result, or undefined when it refused with INVALID_ARGUMENT. Anything else fails the property. */
function decodeOrRefuse(msg: unknown, expected?: (number | null)[]) {
  try {
    return decodeTensor(msg as Parameters<typeof decodeTensor>[0], expected, 'fuzz');
  } catch (e) {
    assert.ok(e instanceof SwarmpathError && e.code === 'INVALID_ARGUMENT' && e.grpc === 3, `not an INVALID_ARGUMENT: ${(e as Error)?.stack ?? e}`);
    assert.match(e.message, /^fuzz: /);
    return undefined;
  }
}

test('property: any float32 tensor (NaN, Inf, -0 and subnormals included) round-trips bit for bit; float16 up to its rounding', () => {
  const tensorArb = dimsArb.chain((dims) => fc.record({
    dims: fc.constant(dims),
    bits: fc.uint32Array({ minLength: dims.reduce((a, b) => a * b, 1), maxLength: dims.reduce((a, b) => a * b, 1) }),
  }));
  fc.assert(fc.property(tensorArb, fc.boolean(), fc.nat({ max: 3 }), ({ dims, bits }, half, pad) => {
    const x = new Float32Array(bits.buffer, bits.byteOffset, bits.length);
    const msg = encodeTensor({ data: x, dims }, half ? 'float16' : 'float32');
    // The bytes as grpc-js hands them over: possibly at an odd offset inside a larger buffer.
    const arrived = Buffer.concat([Buffer.alloc(pad), msg.data]).subarray(pad);
    const y = decodeTensor({ ...msg, data: arrived }, dims.map(() => null));
    assert.deepEqual(y.dims, dims);
    const want = half ? float16ToFloat32(float32ToFloat16(x)) : x;
    assert.ok(sameBits(y.data, want));
  }), { numRuns: 300 });
});

const dimArb = fc.oneof(
  fc.integer({ min: 1, max: 8 }), fc.integer({ min: -3, max: 0 }), fc.constantFrom(2 ** 31, 2 ** 32 - 1, 2 ** 53, 1e300, 0.5, -0, NaN, Infinity, -Infinity),
);
const dtypeArb = fc.oneof(fc.constantFrom('FLOAT32', 'FLOAT16', 'INT64', 'DTYPE_UNSPECIFIED', 'float32', '', 'constructor', '__proto__'),
  fc.constantFrom(0, 1, 2, 3, 4, -1, 1.5, NaN, 2 ** 31), fc.constant(undefined));
const garbledArb = fc.record({
  dtype: dtypeArb,
  shape: fc.oneof(fc.array(dimArb, { maxLength: 5 }), fc.constant(undefined)),
  bytes: fc.nat({ max: 600 }),
  offset: fc.nat({ max: 3 }),
  expected: fc.oneof(fc.constant(undefined), fc.array(fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 8 })), { maxLength: 4 })),
});

test('property: a garbled tensor message decodes consistently or is refused with INVALID_ARGUMENT, never bigger than its bytes', () => {
  fc.assert(fc.property(garbledArb, (g) => {
    const data = Buffer.alloc(g.bytes + g.offset, 0x3c).subarray(g.offset);
    const y = decodeOrRefuse({ dtype: g.dtype, shape: g.shape, data }, g.expected);
    if (!y) return;
    const width = g.dtype === 'FLOAT32' || g.dtype === 1 ? 4 : 2;
    assert.ok(['FLOAT32', 'FLOAT16', 1, 2].includes(g.dtype as string | number));
    assert.deepEqual(y.dims, g.shape ?? []);
    assert.ok(y.dims.every((d) => Number.isInteger(d) && d > 0));
    if (g.expected) y.dims.forEach((d, i) => assert.ok(g.expected![i] === null || g.expected![i] === d));
    assert.equal(y.data.length * width, g.bytes, 'exactly as many values as bytes allow');
  }), { numRuns: 1000 });
});

test('a huge shape with few bytes is refused without allocating', () => {
  for (const shape of [[2 ** 31, 2 ** 31, D], [1, 2 ** 31, D], [65536, 65536, 65536], [2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1]]) {
    const before = process.memoryUsage().arrayBuffers;
    assert.equal(decodeOrRefuse({ dtype: 'FLOAT32', shape, data: Buffer.alloc(16) }, [null, null, null]), undefined);
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20);
  }
});

type Deserialize = (b: Buffer) => any;
const service = expertHostService() as unknown as Record<string, { requestDeserialize: Deserialize; requestSerialize: (m: unknown) => Buffer }>;

/** What the host does with a Forward or Session request's tensor once grpc-js deserialized it. */
function serverPath(method: 'Forward' | 'Session', bytes: Buffer): void {
  let msg: any;
  try {
    msg = service[method].requestDeserialize(bytes);
  } catch {
    return; // grpc-js answers INTERNAL "failed to deserialize" (test/integration/host/bad-input.test.ts)
  }
  const hidden = method === 'Forward' ? msg.hidden : msg.step?.hidden;
  if (hidden) decodeOrRefuse(hidden, method === 'Forward' ? [null, null, D] : [1, null, D]);
}

test('property: random and mutated protobuf bytes of Forward and Session requests never crash the decoder', () => {
  const good = {
    Forward: service.Forward.requestSerialize({ expertId: 'L0.0', hidden: encodeTensor({ data: new Float32Array(2 * D).fill(0.5), dims: [1, 2, D] }), replyDtype: 'FLOAT16' }),
    Session: service.Session.requestSerialize({ step: { stepId: 7, position: 3, hidden: encodeTensor({ data: new Float32Array(D).fill(1), dims: [1, 1, D] }, 'float16') } }),
  };
  const mutation = fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 });
  fc.assert(fc.property(fc.constantFrom('Forward' as const, 'Session' as const), mutation, fc.uint8Array({ maxLength: 200 }), fc.boolean(), (method, muts, random, useRandom) => {
    const bytes = useRandom ? Buffer.from(random) : Buffer.from(good[method]);
    if (!useRandom) for (const m of muts) bytes[m.at % bytes.length] = m.byte;
    serverPath(method, bytes);
  }), { numRuns: 3000 });
});
