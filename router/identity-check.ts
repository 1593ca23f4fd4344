/**
 * Before a replica gets work, the router checks that the gRPC endpoint its record names belongs to
 * the record's peer (shared/identity.ts): an Info call with a fresh nonce, whose signature must be by
 * the record's peer id. A pass stands for `ttlMs` per (peer, address); one check at a time per pair,
 * shared. A record that fails names an endpoint its peer does not own: the peer id is distrusted,
 * never the address (which may be an honest host's, borrowed by the record).
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../shared/log.ts';
import type { ExpertClient } from '../shared/transport-types.ts';
import { infoNonce, verifyInfoSignature } from '../shared/identity.ts';
import { asSwarmpathError, type SwarmpathError } from '../shared/errors.ts';
import { untilAborted } from './sleep.ts';

export type IdentityVerdict = { type: 'ok' } | { type: 'impostor' } | { type: 'error'; error: SwarmpathError };

export interface IdentityChecks {
  /** Whether `address` is `peerId`'s: cached, or asked now. */
  check(peerId: string, address: string, client: ExpertClient, signal?: AbortSignal): Promise<IdentityVerdict>;
}

export function identityChecks(init: { ttlMs?: number; timeoutMs?: number }, c: { clock: () => number; log: Logger }): IdentityChecks {
  const passed = new LRUCache<string, true>({ max: 16_384, ttl: init.ttlMs ?? 3_600_000, ttlResolution: 0, perf: { now: c.clock } });
  const running = new Map<string, Promise<IdentityVerdict>>();
  const timeoutMs = init.timeoutMs ?? 2000;

  const ask = async (peerId: string, address: string, client: ExpertClient, key: string): Promise<IdentityVerdict> => {
    const nonce = infoNonce();
    try {
      const info = await client.info({ deadlineMs: c.clock() + timeoutMs, nonce });
      if (info.peerId === peerId && await verifyInfoSignature(peerId, nonce, info.identitySignature)) {
        passed.set(key, true);
        return { type: 'ok' };
      }
      c.log.warn(`the record of ${peerId} names ${address}, whose host does not prove that identity; not used`, { answeredAs: info.peerId });
      return { type: 'impostor' };
    } catch (err) {
      return { type: 'error', error: asSwarmpathError(err) };
    }
  };

  return {
    async check(peerId, address, client, signal) {
      const key = `${peerId} ${address}`;
      if (passed.has(key)) return { type: 'ok' };
      let p = running.get(key);
      if (!p) {
        p = ask(peerId, address, client, key).finally(() => running.delete(key));
        running.set(key, p);
      }
      return untilAborted(p, signal);
    },
  };
}
