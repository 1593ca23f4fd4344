/**
 * Which libp2p connections a node closes so that the connections it holds stay bounded as the swarm
 * grows (issue 10). Pure: the runtime around it is connection-trimmer.ts.
 *
 * Why: a kad-dht query reaches peers all over the keyspace and yamux's keep-alive (a ping every 30 s)
 * keeps every connection it opened, so a node ends up connected to the whole swarm (101 connections
 * per host in a 100-host swarm, BENCHMARKS.md, scale soak): file descriptors, memory and keep-alive
 * pings that grow with the swarm, and on a volunteer's home router as many NAT entries. js-libp2p's
 * own bound (`maxConnections`) refuses inbound connections once reached, which in a swarm of nodes at
 * their bound refuses DHT queries; go-libp2p's connection manager trims instead, between a high and a
 * low water mark, sparing new and protected connections. This is that rule:
 *
 * - a connection is *idle* when it carries no stream and has been open at least `graceMs` (a
 *   connection just opened is about to carry the request it was opened for);
 * - a second connection to the same peer (both ends dialled at once) is closed once idle, at any count;
 * - above `high` connections, idle ones to unprotected peers are closed, lowest tag value first
 *   (kad-dht tags its routing-table contacts 1, its closest peers 50), then oldest first, until
 *   `low` remain or no idle unprotected connection is left;
 * - a peer is protected when it carries a `keep-alive` tag (kad-dht's closest peers, bootstrap
 *   peers while they are young: libp2p would redial it at once), or REDIALLED_TAG (it dialled back
 *   at once after we closed its connection: the other end keeps it alive).
 */
/** libp2p's keep-alive tag prefix (`KEEP_ALIVE` of @libp2p/interface; spelled out so that this file imports nothing). */
const KEEP_ALIVE = 'keep-alive';

/** Peer-store tag (value 0, with a TTL) of a peer that redialled at once after a trim. */
export const REDIALLED_TAG = 'swarmpath-redialled';

export interface ConnectionLimits {
  /** Trim down to this many connections. */
  low: number;
  /** Trim only above this many connections. */
  high: number;
  /** A connection younger than this is never closed, ms. */
  graceMs: number;
}

/** What the rule needs to know of one connection. */
export interface ConnectionFacts {
  id: string;
  /** Remote peer id. */
  peer: string;
  /** When it opened, ms (the clock `now` is on). */
  openedAt: number;
  /** Streams open on it now. */
  streams: number;
}

/** What the rule needs to know of one remote peer (from its peer-store tags). */
export interface PeerWorth {
  /** The sum of its tag values. */
  value: number;
  /** It carries a keep-alive tag. */
  keepAlive: boolean;
}

/**
 * Defaults for a host or router. Trimming trades a held connection (a yamux keep-alive ping every
 * 30 s, some memory, a file descriptor) for a redial when the peer is needed again (TCP, noise,
 * identify), and kad-dht needs most peers of a swarm of a hundred about once a minute: with marks
 * of 16/24 among 48 nodes in one process, every node closed ~20 connections a minute and redialled
 * as many. So the marks sit where holding costs more than redialling: well above a 100-host swarm
 * (nothing but duplicates is closed there), well below the 1024 descriptors many systems allow a
 * process. go-libp2p's connection manager uses 160/192 for the same reason.
 */
export const DEFAULT_MAX_CONNECTIONS = 192;
/** The fewest a node may be told to hold: kad-dht keeps its 20 closest peers connected whatever the marks. */
export const MIN_MAX_CONNECTIONS = 24;

/** The marks for a node told to hold at most `max` connections: trimmed down to two thirds of it, after a minute idle. */
export function connectionLimitsFor(max: number): ConnectionLimits {
  return { high: max, low: Math.max(1, Math.round((max * 2) / 3)), graceMs: 60_000 };
}

export const CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze(connectionLimitsFor(DEFAULT_MAX_CONNECTIONS));

/** A peer's worth from its peer-store tags. */
export function worthOfTags(tags: Iterable<[string, { value: number }]>): PeerWorth {
  let value = 0;
  let keepAlive = false;
  for (const [name, tag] of tags) {
    value += tag.value;
    if (name.startsWith(KEEP_ALIVE) || name === REDIALLED_TAG) keepAlive = true;
  }
  return { value, keepAlive };
}

/** Ids of the connections to close now, duplicates first (see the header for the rule). */
export function connectionsToTrim(
  conns: readonly ConnectionFacts[],
  worth: (peer: string) => PeerWorth,
  now: number,
  limits: ConnectionLimits,
): string[] {
  const idle = (c: ConnectionFacts): boolean => c.streams === 0 && now - c.openedAt >= limits.graceMs;
  const close = new Set<string>();

  // Duplicates: keep one connection per peer, the busiest (then the oldest); close the idle others.
  const byPeer = new Map<string, ConnectionFacts[]>();
  for (const c of conns) byPeer.set(c.peer, [...(byPeer.get(c.peer) ?? []), c]);
  for (const list of byPeer.values()) {
    if (list.length < 2) continue;
    const [, ...others] = [...list].sort((a, b) => b.streams - a.streams || a.openedAt - b.openedAt);
    for (const c of others) if (idle(c)) close.add(c.id);
  }

  let left = conns.length - close.size;
  if (left <= limits.high) return [...close];
  const candidates = conns
    .filter((c) => !close.has(c.id) && idle(c) && !worth(c.peer).keepAlive)
    .sort((a, b) => worth(a.peer).value - worth(b.peer).value || a.openedAt - b.openedAt);
  for (const c of candidates) {
    if (left <= limits.low) break;
    close.add(c.id);
    left--;
  }
  return [...close];
}

/** Checks limits given by a caller (tests, benchmarks): low <= high, both positive, grace >= 0. */
export function checkLimits(l: ConnectionLimits): ConnectionLimits {
  if (!(Number.isInteger(l.low) && Number.isInteger(l.high) && l.low >= 1 && l.low <= l.high && l.graceMs >= 0)) {
    throw new RangeError(`connection limits need 1 <= low <= high and graceMs >= 0 (got ${JSON.stringify(l)})`);
  }
  return l;
}
