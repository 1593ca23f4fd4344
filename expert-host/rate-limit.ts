/**
 * A token bucket per key (a peer, peer-key.ts): `take(key)` spends one token if the key has one;
 * each key earns `perS` tokens a second up to `burst`. A bucket left alone for `burst / perS`
 * seconds is full again, so forgetting it then changes nothing: the buckets live in an LRU cache
 * (lru-cache) with that time to live, and at most `maxKeys` of them (past that the least recently
 * used is dropped, which only ever gives a peer a full bucket sooner). Used for the host's cheap
 * calls (`Info`), whose cost is CPU per call rather than something held.
 */
import { LRUCache } from 'lru-cache';

export interface RateLimiter {
  /** Spends one token of `key`; false when it has none (the call is refused). */
  take(key: string): boolean;
}

export interface RateLimiterInit {
  /** Tokens earned a second. */
  perS: number;
  /** Most tokens a key holds (and spends at once after a quiet spell). */
  burst: number;
  /** Most keys remembered (default 65,536). */
  maxKeys?: number;
  /** Milliseconds, monotonic (default performance.now). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export function createRateLimiter(init: RateLimiterInit): RateLimiter {
  if (!(init.perS > 0) || !(init.burst >= 1)) throw new RangeError(`rate limiter: perS must be > 0 and burst >= 1 (got ${init.perS}, ${init.burst})`);
  const now = init.now ?? (() => performance.now());
  const fullAfterMs = (init.burst / init.perS) * 1000;
  const buckets = new LRUCache<string, Bucket>({ max: init.maxKeys ?? 65_536, ttl: Math.ceil(fullAfterMs), perf: { now } });
  return {
    take(key) {
      const t = now();
      const b = buckets.get(key);
      const tokens = b ? Math.min(init.burst, b.tokens + ((t - b.atMs) / 1000) * init.perS) : init.burst;
      // A refusal changes nothing: the bucket fills from its last spend, and its time to live (set then)
      // ends exactly when it is full.
      if (tokens < 1) return false;
      buckets.set(key, { tokens: tokens - 1, atMs: t });
      return true;
    },
  };
}
