/**
 * One generation session's KV cache: a KvCache (shared/model/kv-cache.ts, docs/model-format.md "Host
 * cache layout") whose whole reservation, maxLength positions, is allocated when the session opens.
 * A step's cached keys and values are views of it handed to onnxruntime without a copy. Steps
 * append at `position` (<= length; smaller truncates first).
 */
import { InvalidArgumentError } from '../shared/errors.ts';
import { truncateKv, type KvCache } from '../shared/model/kv-cache.ts';

/** Bytes a session reserving `maxLength` positions takes. */
export function kvSessionBytes(maxLength: number, floatsPerPosition: number): number {
  return maxLength * floatsPerPosition * 4;
}

/** Why a session left the store. */
export type SessionEndReason = 'closed' | 'evicted' | 'retired' | 'reclaimed';

export interface KvSession extends KvCache {
  readonly id: string;
  readonly expertId: string;
  readonly reservedBytes: number;
  /** The peer that opened it (peer-key.ts; '' for the host itself): whose KV share it draws on. */
  readonly peer: string;
  /** Whether a step ever ran on it: a session never stepped is evicted after the shorter idle time. */
  stepped: boolean;
  /** Last use, ms on the store's clock. */
  lastUsedMs: number;
  /** Steps queued or running: a busy session is never evicted. */
  busy: number;
  /**
   * Set once the session is closed, evicted (idle), retired (its expert is no longer served) or
   * reclaimed (its peer was over its KV share and another peer needed room, kv-share.ts).
   */
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
  truncateKv(s, position);
}
