/**
 * Per-peer shares of the KV budget, a pure decision. Each peer (peer-key.ts) has a share,
 * `shareBytes` (--peer-kv-share of --kv-cache-mb). A peer may reserve more while the budget has
 * room, so that a lone router can use the whole host; what it holds beyond its share is borrowed.
 * When a peer within its share needs room that is not free, sessions of peers past their share are
 * reclaimed, most borrowed peer first, its least recently used session first, never one with a step
 * running. So a peer holding every byte (1,500 `open`s) cannot keep another router out, and a peer
 * past its share is refused (RESOURCE_EXHAUSTED) once the budget is full. The guarantee: a request
 * within its peer's share is refused only when the free bytes plus the idle bytes others borrow do
 * not cover it, which, with at most 1/share peers holding sessions, cannot happen.
 */

/** One open session as the decision sees it. */
export interface KvHolding {
  id: string;
  peer: string;
  bytes: number;
  /** Last use, ms (any monotonic clock). */
  lastUsedMs: number;
  /** A step is running on it: it cannot be reclaimed now. */
  busy: boolean;
}

export interface KvRequest {
  peer: string;
  need: number;
  capacity: number;
  shareBytes: number;
  holdings: readonly KvHolding[];
}

export type KvPlan =
  | { type: 'ok' }
  | { type: 'reclaim'; victims: string[] }
  | { type: 'refuse'; reason: 'over-share' | 'no-reclaimable'; free: number; peerBytes: number };

/** Bytes held by each peer. */
export function bytesByPeer(holdings: readonly KvHolding[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const h of holdings) m.set(h.peer, (m.get(h.peer) ?? 0) + h.bytes);
  return m;
}

/** Decides how `need` bytes for `peer` fit: at once, after reclaiming `victims`, or not at all. */
export function planKvReservation(r: KvRequest): KvPlan {
  const held = bytesByPeer(r.holdings);
  let reserved = 0;
  for (const b of held.values()) reserved += b;
  const free = r.capacity - reserved;
  const mine = held.get(r.peer) ?? 0;
  if (r.need <= free) return { type: 'ok' };
  if (mine + r.need > r.shareBytes) return { type: 'refuse', reason: 'over-share', free, peerBytes: mine };
  // Candidates per borrowing peer, least recently used first.
  const byPeer = new Map<string, KvHolding[]>();
  for (const h of r.holdings) {
    if (h.peer === r.peer || h.busy || (held.get(h.peer) ?? 0) <= r.shareBytes) continue;
    const l = byPeer.get(h.peer) ?? [];
    l.push(h);
    byPeer.set(h.peer, l);
  }
  for (const l of byPeer.values()) l.sort((a, b) => a.lastUsedMs - b.lastUsedMs || a.id.localeCompare(b.id));
  const victims: string[] = [];
  let freed = 0;
  while (free + freed < r.need) {
    let pick: string | undefined;
    let most = 0;
    for (const [p, l] of byPeer) {
      const excess = (held.get(p) ?? 0) - r.shareBytes;
      if (l.length > 0 && excess > most) { most = excess; pick = p; }
    }
    if (pick === undefined) return { type: 'refuse', reason: 'no-reclaimable', free, peerBytes: mine };
    const v = byPeer.get(pick)!.shift()!;
    victims.push(v.id);
    freed += v.bytes;
    held.set(pick, (held.get(pick) ?? 0) - v.bytes);
  }
  return { type: 'reclaim', victims };
}

/**
 * What `peer` could reserve now: the free bytes, or, while it is within its share, up to the rest
 * of its share out of free plus borrowed bytes (an estimate: busy sessions are not reclaimed, and
 * reclaiming frees whole sessions).
 */
export function kvAvailableTo(peer: string, capacity: number, shareBytes: number, holdings: readonly KvHolding[]): number {
  const held = bytesByPeer(holdings);
  let reserved = 0;
  let borrowed = 0;
  for (const [p, b] of held) {
    reserved += b;
    if (p !== peer) borrowed += Math.max(0, b - shareBytes);
  }
  const free = Math.max(0, capacity - reserved);
  const mine = held.get(peer) ?? 0;
  if (mine >= shareBytes) return free;
  return Math.max(free, Math.min(shareBytes - mine, free + borrowed));
}
