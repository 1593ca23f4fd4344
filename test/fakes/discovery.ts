/**
 * An in-memory Discovery for unit tests of router and host logic: tests publish HostRecords (or
 * whole hosts) directly and move a manual clock; lookups apply the same rules as the DHT discovery
 * (ONLINE, unexpired, the highest seq per peer wins, the expert must be listed in the record).
 * test/unit/dht/discovery-contract.ts holds the suite that this fake and shared/dht/discovery.ts
 * both pass. Never used in integration tests or the product.
 */
import type { Discovery, HostRecord } from '../../shared/transport-types.ts';

export interface FakeDiscovery extends Discovery {
  /** Stores `record` unless a record of the same peer with a higher seq is held. */
  publish(record: HostRecord): void;
  /** A full ONLINE record with defaults (expires in 60 s of the fake clock, seq from the clock). */
  host(fields: Partial<HostRecord> & Pick<HostRecord, 'peerId'>): HostRecord;
  /** Forgets a peer's record (as if it had never announced). */
  remove(peerId: string): void;
  /** Every record held, live or not. */
  records(): HostRecord[];
  /** Number of replicas()/allHosts() calls so far. */
  readonly lookups: number;
  /**
   * What a host answers when asked for the records it knows (learn): its own record and those of the
   * peers listed here; a live host not listed knows every host. Only live hosts answer.
   */
  readonly knows: Map<string, string[]>;
  /** Peers asked through learn() so far. */
  readonly asked: string[];
  /** The clock the fake reads (ms since the epoch). */
  now(): number;
  /** Moves the manual clock forward (only when the fake owns its clock). */
  advance(ms: number): void;
}

export function createFakeDiscovery(opts: { clock?: () => number; records?: HostRecord[] } = {}): FakeDiscovery {
  let manual = 1_700_000_000_000;
  const clock = opts.clock ?? (() => manual);
  const byPeer = new Map<string, HostRecord>();
  let lookups = 0;
  let seq = 0;

  const live = (signal?: AbortSignal): HostRecord[] => {
    signal?.throwIfAborted();
    lookups++;
    const now = clock();
    return [...byPeer.values()].filter((r) => r.state === 'ONLINE' && r.expiresAt > now)
      .map((r) => ({ ...r, experts: [...r.experts] }))
      .sort((a, b) => a.peerId.localeCompare(b.peerId));
  };

  const liveNow = () => [...byPeer.values()].filter((r) => r.state === 'ONLINE' && r.expiresAt > clock());
  const asked: string[] = [];
  const fake: FakeDiscovery = {
    knows: new Map(),
    asked,
    publish(record) {
      const held = byPeer.get(record.peerId);
      if (held && held.seq > record.seq) return;
      byPeer.set(record.peerId, { ...record, experts: [...record.experts] });
    },
    host(fields) {
      return {
        model: 'tiny', experts: [], grpc: '127.0.0.1:1', state: 'ONLINE', version: 'fake', device: 'cpu',
        kvCapacityBytes: 1 << 20, kvFreeBytes: 1 << 20, queueDepth: 0, throughput: 1, auto: false,
        seq: Math.max(++seq, clock()), expiresAt: clock() + 60_000, ...fields,
      };
    },
    remove(peerId) { byPeer.delete(peerId); },
    records() { return [...byPeer.values()]; },
    get lookups() { return lookups; },
    now: clock,
    advance(ms) {
      if (opts.clock) throw new Error('advance() needs the fake to own its clock');
      manual += ms;
    },
    async replicas(model, expertId, o) {
      return live(o?.signal).filter((r) => r.model === model && r.experts.includes(expertId));
    },
    async allHosts(o) {
      return live(o?.signal);
    },
    async learn(peerIds, o) {
      o?.signal?.throwIfAborted();
      asked.push(...peerIds);
      const hosts = liveNow();
      const known = new Set<string>();
      for (const p of peerIds.filter((x) => hosts.some((r) => r.peerId === x))) {
        const k = fake.knows.get(p);
        for (const q of k ? [p, ...k] : hosts.map((r) => r.peerId)) known.add(q);
      }
      return hosts.filter((r) => known.has(r.peerId)).map((r) => ({ ...r, experts: [...r.experts] }));
    },
  };
  for (const r of opts.records ?? []) fake.publish(r);
  return fake;
}
