/**
 * One generation session's KV cache. The whole cache is reserved when the session opens: a
 * Float32Array of `maxLength * floatsPerPosition` floats, position-major ([P, L, 2, H, Dh] per
 * docs/model-format.md), so the first `length` positions are one contiguous subarray handed to
 * onnxruntime without a copy. Steps append at `position` (<= length; smaller truncates first).
 */
import { InvalidArgumentError } from '../shared/errors.ts';

/** Floats one cached position takes: L * 2 * H * Dh. */
export function kvFloatsPerPosition(layers: number, nHeads: number, headDim: number): number {
  return layers * 2 * nHeads * headDim;
}

/** Bytes a session reserving `maxLength` positions takes. */
export function kvSessionBytes(maxLength: number, floatsPerPosition: number): number {
  return maxLength * floatsPerPosition * 4;
}

/** Why a session left the store. */
export type SessionEndReason = 'closed' | 'evicted' | 'retired';

export interface KvSession {
  readonly id: string;
  readonly expertId: string;
  readonly maxLength: number;
  readonly floatsPerPosition: number;
  readonly reservedBytes: number;
  /** The reserved cache; positions [0, length) are valid. */
  readonly cache: Float32Array;
  /** Cached positions. */
  length: number;
  /** Last use, ms on the store's clock. */
  lastUsedMs: number;
  /** Steps queued or running: a busy session is never evicted. */
  busy: number;
  /** Set once the session is closed, evicted (idle) or retired (its expert is no longer served). */
  ended?: SessionEndReason;
}

/** The result of checking a step against a session: ok, or why not. */
export type StepCheck = { type: 'ok' } | { type: 'error'; message: string };

/** Pure: may a step of T new positions run at `position` on a session holding `length` of `maxLength`? */
export function checkStep(length: number, maxLength: number, position: number, T: number): StepCheck {
  if (!Number.isInteger(position) || position < 0) return { type: 'error', message: `position ${position} must be a non-negative integer` };
  if (position > length) return { type: 'error', message: `position ${position} is past the cache length ${length} (positions must be contiguous)` };
  if (position + T > maxLength) return { type: 'error', message: `position ${position} + ${T} new tokens exceeds the session's max_length ${maxLength}` };
  return { type: 'ok' };
}

/** Validates a step (throwing InvalidArgumentError) and truncates the cache to `position`. */
export function beginStep(s: KvSession, position: number, T: number): void {
  const c = checkStep(s.length, s.maxLength, position, T);
  if (c.type === 'error') throw new InvalidArgumentError(`session ${s.id}: ${c.message}`);
  s.length = position;
}

/** The cached prefix [0, length) as a view (no copy). */
export function pastView(s: KvSession): Float32Array {
  return s.cache.subarray(0, s.length * s.floatsPerPosition);
}

/** Appends T positions of new keys/values (T * floatsPerPosition floats) at the cache's end. */
export function appendKv(s: KvSession, newKv: Float32Array, T: number): void {
  const fpp = s.floatsPerPosition;
  if (newKv.length !== T * fpp) throw new Error(`new_kv has ${newKv.length} floats, expected ${T * fpp}`);
  s.cache.set(newKv, s.length * fpp);
  s.length += T;
}
