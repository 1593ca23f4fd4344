/**
 * Keeps a libp2p node's connections between the water marks of connection-trim.ts: checks every
 * `checkMs`, and within a second of connections opening above the high mark (one check at a time;
 * a burst of opens brings one check), reads the remote peers' tags from the peer store and closes
 * what the rule picks (gracefully, aborted after 1 s). A peer that dials back within
 * REDIAL_WINDOW_MS of losing its only connection to a trim is tagged REDIALLED_TAG for HELD_MS:
 * its end keeps the connection alive (kad-dht redials its closest peers at once), so closing it
 * again would only bring another redial. Query traffic from a far peer rarely comes back this soon
 * in a swarm large enough to trim. Nothing here throws into the node.
 */
import type { Connection, Libp2p } from '@libp2p/interface';
import type { Logger } from '../log.ts';
import { REDIALLED_TAG, checkLimits, connectionsToTrim, worthOfTags, type ConnectionLimits, type PeerWorth } from './connection-trim.ts';

export interface ConnectionTrimmerInit extends ConnectionLimits {
  /** How often to check even when no connection opens, ms (idle connections age past the grace). */
  checkMs?: number;
}

export interface ConnectionTrimmer {
  /** Connections closed so far. */
  closed(): number;
  stop(): void;
}

type TrimmedNode = Pick<Libp2p, 'getConnections' | 'peerStore' | 'addEventListener' | 'removeEventListener'>;

const CHECK_MS = 15_000;
const CLOSE_TIMEOUT_MS = 1_000;
const EVENT_DELAY_MS = 1_000;
const REDIAL_WINDOW_MS = 10_000;
const HELD_MS = 10 * 60_000;
const NO_WORTH: PeerWorth = { value: 0, keepAlive: false };

/** Starts trimming `libp2p`'s connections (call after libp2p.start()). */
export function startConnectionTrimmer(init: ConnectionTrimmerInit, c: { libp2p: TrimmedNode; clock: () => number; log: Logger }): ConnectionTrimmer {
  const limits = checkLimits(init);
  let running: Promise<void> | undefined;
  let again = false;
  let total = 0;
  /** When we last closed the only connection to a peer (kept for REDIAL_WINDOW_MS). */
  const closedAt = new Map<string, number>();

  const worthOf = async (conns: readonly Connection[]): Promise<Map<string, PeerWorth>> => {
    const out = new Map<string, PeerWorth>();
    for (const conn of conns) {
      const id = conn.remotePeer.toString();
      if (out.has(id)) continue;
      try {
        out.set(id, worthOfTags((await c.libp2p.peerStore.get(conn.remotePeer)).tags));
      } catch {
        out.set(id, NO_WORTH); // not in the peer store: no tags
      }
    }
    return out;
  };

  const once = async (): Promise<void> => {
    const conns = c.libp2p.getConnections();
    const now = c.clock();
    const facts = conns.map((x) => ({ id: x.id, peer: x.remotePeer.toString(), openedAt: x.timeline.open, streams: x.streams.length }));
    // Nothing idle, or below the high mark without duplicates: nothing to close, no peer-store reads.
    if (!facts.some((f) => f.streams === 0 && now - f.openedAt >= limits.graceMs)) return;
    const dupes = new Set(facts.map((f) => f.peer)).size < facts.length;
    if (conns.length <= limits.high && !dupes) return;
    const worth = conns.length > limits.high ? await worthOf(conns) : new Map<string, PeerWorth>();
    const ids = new Set(connectionsToTrim(facts, (p) => worth.get(p) ?? NO_WORTH, now, limits));
    if (ids.size === 0) return;
    const left = new Set(conns.filter((x) => !ids.has(x.id)).map((x) => x.remotePeer.toString()));
    for (const [peer, t] of closedAt) if (now - t > REDIAL_WINDOW_MS) closedAt.delete(peer);
    for (const x of conns) if (ids.has(x.id) && !left.has(x.remotePeer.toString())) closedAt.set(x.remotePeer.toString(), now);
    await Promise.all(conns.filter((x) => ids.has(x.id)).map(async (x) => {
      try {
        await x.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) });
      } catch (err) {
        x.abort(err as Error);
      }
    }));
    total += ids.size;
    c.log.debug('connections trimmed', { closed: ids.size, held: conns.length - ids.size, low: limits.low, high: limits.high });
  };

  const trim = (): void => {
    if (running) { again = true; return; }
    running = once()
      .catch((err: unknown) => { c.log.warn('connection trim failed', { err }); })
      .finally(() => {
        running = undefined;
        if (again) { again = false; trim(); }
      });
  };

  let soon: NodeJS.Timeout | undefined;
  const onOpen = (ev: CustomEvent<Connection>): void => {
    const conn = ev.detail;
    const t = closedAt.get(conn.remotePeer.toString());
    if (conn.direction === 'inbound' && t !== undefined && c.clock() - t <= REDIAL_WINDOW_MS) {
      c.libp2p.peerStore.merge(conn.remotePeer, { tags: { [REDIALLED_TAG]: { value: 0, ttl: HELD_MS } } })
        .catch((err: unknown) => { c.log.debug('could not tag a redialling peer', { err }); });
    }
    if (soon || c.libp2p.getConnections().length <= limits.high) return;
    soon = setTimeout(() => { soon = undefined; trim(); }, EVENT_DELAY_MS);
    soon.unref();
  };
  c.libp2p.addEventListener('connection:open', onOpen);
  const timer = setInterval(trim, init.checkMs ?? CHECK_MS);
  timer.unref();

  return {
    closed: () => total,
    stop() {
      clearInterval(timer);
      if (soon) clearTimeout(soon);
      c.libp2p.removeEventListener('connection:open', onOpen);
    },
  };
}
