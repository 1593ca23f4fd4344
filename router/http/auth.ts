/**
 * Optional API keys: with keys configured, every /v1 request needs `Authorization: Bearer <key>`
 * with one of them (compared in constant time). Health and metrics endpoints stay open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface KeyCheck {
  readonly enabled: boolean;
  /** Whether the Authorization header carries a configured key (true when no key is configured). */
  allows(authorization: string | undefined): boolean;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function keyCheck(keys: readonly string[]): KeyCheck {
  const digests = keys.filter((k) => k.length > 0).map(digest);
  return {
    enabled: digests.length > 0,
    allows(authorization) {
      if (digests.length === 0) return true;
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
      if (!m) return false;
      const got = digest(m[1]);
      let ok = false;
      for (const d of digests) ok = timingSafeEqual(got, d) || ok;
      return ok;
    },
  };
}
