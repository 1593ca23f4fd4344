/**
 * Per-peer accounting of what a host's callers hold at once: open connections, Session streams,
 * concurrent Forward calls, concurrent FetchShard streams and request bytes received but not yet
 * answered. Each has a
 * limit per peer (peer-key.ts) and one for the whole host; taking past either is refused with
 * RESOURCE_EXHAUSTED naming the limit and its flag, so that one peer cannot take what another
 * router needs. The decision, `admit`, is pure; the ledger only counts. A peer whose holdings all
 * return to zero is forgotten, so the ledger's size follows the peers active now, not all ever seen.
 * KV memory is accounted apart (kv-share.ts): it is reserved per session and may be reclaimed.
 */
import { ResourceExhaustedError } from '../shared/errors.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';

export type LedgerResource = 'connections' | 'streams' | 'forwards' | 'fetches' | 'inflightBytes';

export interface Limit {
  perPeer: number;
  total: number;
}

export type LedgerLimits = Readonly<Record<LedgerResource, Limit>>;

/** How each resource is named in messages, with the flags that set its limits. */
export const RESOURCE_TEXT: Readonly<Record<LedgerResource, { what: string; peerFlag: string; totalFlag: string }>> = Object.freeze({
  connections: { what: 'connections', peerFlag: '--peer-max-connections', totalFlag: '--max-connections' },
  streams: { what: 'Session streams', peerFlag: '--peer-max-sessions', totalFlag: '--max-sessions' },
  forwards: { what: 'concurrent Forward calls', peerFlag: '--peer-max-forward', totalFlag: '--max-forward' },
  fetches: { what: 'concurrent FetchShard streams', peerFlag: '--peer-max-fetch', totalFlag: '--max-fetch' },
  inflightBytes: { what: 'request bytes in flight', peerFlag: '--peer-inflight-mb', totalFlag: '--max-inflight-mb' },
});

export type Admission = { type: 'ok' } | { type: 'refuse'; scope: 'peer' | 'host'; used: number; limit: number };

/** Pure: may a peer holding `peerUsed` (the host: `totalUsed`) take `amount` more under `limit`? */
export function admit(limit: Limit, peerUsed: number, totalUsed: number, amount: number): Admission {
  if (peerUsed + amount > limit.perPeer) return { type: 'refuse', scope: 'peer', used: peerUsed, limit: limit.perPeer };
  if (totalUsed + amount > limit.total) return { type: 'refuse', scope: 'host', used: totalUsed, limit: limit.total };
  return { type: 'ok' };
}

/** A holding; `release()` gives it back once, later calls do nothing. */
export interface Lease {
  release(): void;
}

export interface PeerLedger {
  /** Takes `amount` (default 1) of `r` for `peer`, or throws ResourceExhaustedError. */
  acquire(peer: string, r: LedgerResource, amount?: number): Lease;
  /** What `peer` holds of `r` (the whole host when `peer` is undefined). */
  used(r: LedgerResource, peer?: string): number;
  /** Peers holding anything now. */
  peers(): number;
}

type Holdings = Record<LedgerResource, number>;
const zero = (): Holdings => ({ connections: 0, streams: 0, forwards: 0, fetches: 0, inflightBytes: 0 });

/** An empty ledger enforcing `limits`. */
export function createPeerLedger(limits: LedgerLimits): PeerLedger {
  const byPeer = new Map<string, Holdings>();
  const totals = zero();

  return {
    acquire(peer, r, amount = 1) {
      const mine = byPeer.get(peer);
      const a = admit(limits[r], mine?.[r] ?? 0, totals[r], amount);
      if (a.type === 'refuse') throw refusal(r, peer, amount, a);
      const h = mine ?? zero();
      if (!mine) byPeer.set(peer, h);
      h[r] += amount;
      totals[r] += amount;
      let held = true;
      return {
        release() {
          if (!held) return;
          held = false;
          h[r] -= amount;
          totals[r] -= amount;
          if (h.connections === 0 && h.streams === 0 && h.forwards === 0 && h.fetches === 0 && h.inflightBytes === 0) byPeer.delete(peer);
        },
      };
    },
    used: (r, peer) => (peer === undefined ? totals[r] : byPeer.get(peer)?.[r] ?? 0),
    peers: () => byPeer.size,
  };
}

function refusal(r: LedgerResource, peer: string, amount: number, a: Extract<Admission, { type: 'refuse' }>): ResourceExhaustedError {
  const t = RESOURCE_TEXT[r];
  const asked = r === 'inflightBytes' ? ` (this one: ${amount})` : '';
  return new ResourceExhaustedError(a.scope === 'peer'
    ? `per-peer limit: ${peer} already holds ${a.used} of its ${a.limit} ${t.what}${asked} (${t.peerFlag}); wait for some to finish`
    : `host limit: ${a.used} of ${a.limit} ${t.what} in use${asked} (${t.totalFlag}); try another replica`);
}

/** What `holdForCall` needs of a grpc-js server stream. */
interface StreamCall {
  emit(event: 'error', err: unknown): boolean;
  once(event: 'close', fn: () => void): unknown;
}

/**
 * Takes one `r` of `peer` for a stream call until the call closes; past the limit the call ends at
 * once with the refusal (RESOURCE_EXHAUSTED naming the flag) and this returns false.
 */
export function holdForCall(call: StreamCall, ledger: PeerLedger, peer: string, r: LedgerResource): boolean {
  let lease: Lease;
  try {
    lease = ledger.acquire(peer, r);
  } catch (err) {
    call.emit('error', toGrpcError(err));
    return false;
  }
  call.once('close', () => lease.release());
  return true;
}
