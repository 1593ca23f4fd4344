/**
 * Optional API keys: with keys configured, every /v1 request needs `Authorization: Bearer <key>`
 * with one of them (compared in constant time). Health and metrics endpoints stay open. Keys come
 * from `--api-key`, SWARMPATH_API_KEYS and `--api-key-file` (one key per line: parseKeyFile).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export interface KeyCheck {
  readonly enabled: boolean;
  /** Whether the Authorization header carries a configured key (true when no key is configured). */
  allows(authorization: string | undefined): boolean;
  /** The index of the configured key the header carries, or -1 (also when no key is configured). */
  match(authorization: string | undefined): number;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function keyCheck(keys: readonly string[]): KeyCheck {
  const digests = keys.filter((k) => k.length > 0).map(digest);
  const match = (authorization: string | undefined): number => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return -1;
    const got = digest(m[1]);
    // Every key is compared, matched or not: the time taken says nothing about which one matched.
    let found = -1;
    digests.forEach((d, i) => { if (timingSafeEqual(got, d)) found = i; });
    return found;
  };
  return {
    enabled: digests.length > 0,
    allows: (authorization) => digests.length === 0 || match(authorization) >= 0,
    match,
  };
}

/**
 * The keys of a key file: one per line, surrounding blanks trimmed; empty lines and lines starting
 * with `#` are skipped. A key holds no whitespace (the Authorization header could not carry it).
 */
export function parseKeyFile(text: string): { keys: string[] } | { error: string } {
  const keys: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/\s/.test(line)) return { error: `line ${i + 1} holds whitespace inside a key` };
    keys.push(line);
  }
  return keys.length > 0 ? { keys } : { error: 'it holds no key' };
}
