/**
 * A swarmpath libp2p node: TCP + noise + yamux, identify, ping, bootstrap and kad-dht on the private
 * protocol `/swarmpath/kad/1.0.0`, keeping private and loopback addresses (a local or LAN swarm has
 * no public ones), with the validator and selector of host records registered and its connections kept
 * within water marks (connection-trim.ts, connection-trimmer.ts). Exposes the few DHT
 * operations discovery needs (provide, findProviders, put, get) as promise/iterator calls that all
 * honour an AbortSignal; `libp2p` is there for anything else.
 */
import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import { bootstrap as bootstrapDiscovery } from '@libp2p/bootstrap';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { kadDHT, passthroughMapper, type KadDHT, type QueryEvent } from '@libp2p/kad-dht';
import { multiaddr } from '@multiformats/multiaddr';
import type { ComponentLogger, Logger as Libp2pLogger, PrivateKey } from '@libp2p/interface';
import type { CID } from 'multiformats/cid';
import type { Logger } from '../log.ts';
import { BadConfigError } from '../errors.ts';
import { DHT_PROTOCOL, HOST_RECORD_NAMESPACE, hostRecordKey } from './keys.ts';
import { fetchKnownRecords, fetchRecordDirect, serveKnownRecords, serveOwnRecord } from './record-protocol.ts';
import { hostRecordSelector, hostRecordValidator } from './host-record.ts';
import { loadOrCreateKey } from './key-file.ts';
import { countingMetrics, type RpcCounter } from './rpc-counter.ts';
import { CONNECTION_LIMITS, checkLimits } from './connection-trim.ts';
import { startConnectionTrimmer, type ConnectionTrimmer, type ConnectionTrimmerInit } from './connection-trimmer.ts';

export interface SwarmNodeInit {
  /** Multiaddrs to listen on; default `/ip4/127.0.0.1/tcp/0`. */
  listen?: string[];
  /** Multiaddrs (with /p2p/<id>) of peers to join through. */
  bootstrap?: string[];
  /** Persist the private key here (created on first run, mode 0600); default: a fresh key per run. */
  keyFile?: string;
  /** Use this key (takes precedence over keyFile). */
  privateKey?: PrivateKey;
  log: Logger;
  /** A DHT client only queries; hosts and DHT nodes are servers (default false). */
  clientMode?: boolean;
  /** Time source of the record validator (tests); default Date.now. */
  clock?: () => number;
  /** Counts the control-plane messages this node sends (benchmarks, metrics); see rpc-counter.ts. */
  rpcCounter?: RpcCounter;
  /** How long DHT nodes keep a provider entry without a re-provide, ms (default PROVIDER_VALIDITY_MS). */
  providerValidityMs?: number;
  /** Water marks of the connections this node holds (connection-trim.ts; default CONNECTION_LIMITS). */
  connectionLimits?: ConnectionTrimmerInit;
}

export type SwarmLibp2p = Libp2p<{ dht: KadDHT; identify: unknown; ping: unknown }>;

/** Options of every DHT operation. */
export interface DhtOpts {
  signal?: AbortSignal;
  /**
   * findProviders only: end the search once this many peers answered with providers (each of the k
   * closest peers of a settled swarm holds the whole list; in a young swarm a provide may have
   * reached only some of them, so callers that must see every provider leave this out).
   */
  enoughResponses?: number;
}

/** The DHT operations of a node, as announcer and discovery need them (fakes implement this). */
export interface SwarmDht {
  /** Announces this node as a provider of `cid`; resolves the number of peers that stored it (an abort ends the count). */
  provide(cid: CID, opts?: DhtOpts): Promise<number>;
  /** Peer ids of providers of `cid`, each once, as they are found; ends when the query ends or aborts. */
  findProviders(cid: CID, opts?: DhtOpts): AsyncIterable<string>;
  /** Stores `value` at `key` locally and on the closest peers; resolves how many peers accepted it (an abort ends the count). */
  put(key: Uint8Array, value: Uint8Array, opts?: DhtOpts): Promise<number>;
  /** The best valid value at `key` found before the query ends or aborts (undefined when none). */
  get(key: Uint8Array, opts?: DhtOpts): Promise<Uint8Array | undefined>;
  /**
   * Stops providing `cid` from this node (its own entry; copies on other nodes expire after the
   * provider validity). A host that moves away from an expert calls it.
   */
  unprovide(cid: CID): Promise<void>;
  /** The record `peerId` serves itself (record-protocol.ts); undefined when it has none; throws when unreachable. */
  fetchRecord?(peerId: string, opts?: DhtOpts): Promise<Uint8Array | undefined>;
  /** The host records `peerId` shares (record-protocol.ts: its own, then those it knows; unverified); throws when unreachable. */
  fetchKnownRecords?(peerId: string, opts?: DhtOpts): Promise<Uint8Array[]>;
}

export interface SwarmNode extends SwarmDht {
  /** This node's peer id, base58 (`12D3Koo…`). */
  readonly peerId: string;
  /** This node's key: hosts sign their records with it. */
  readonly privateKey: PrivateKey;
  readonly libp2p: SwarmLibp2p;
  /** Listening multiaddrs, each ending in /p2p/<peerId> (empty before start). */
  multiaddrs(): string[];
  /** Connections this node closed to stay within its water marks (connection-trim.ts). */
  connectionsTrimmed(): number;
  /**
   * What this node shares, after its own record, with peers asking for the records it knows
   * (record-protocol.ts): hosts and routers pass their discovery's live records. Default: none.
   */
  shareRecords(known: () => readonly Uint8Array[]): void;
  /** Starts listening and dials the bootstrap peers (without failing when none answers). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const silentLibp2pLog: Libp2pLogger = Object.assign(() => {}, {
  error: () => {}, trace: () => {}, enabled: false, newScope: () => silentLibp2pLog,
});
const silentComponentLogger: ComponentLogger = { forComponent: () => silentLibp2pLog };

/** How often a node with no connection redials its bootstrap peers, ms. */
const REDIAL_MS = 5_000;
const DIAL_TIMEOUT_MS = 5_000;
/**
 * How long DHT nodes keep a provider entry that is not re-provided, ms (kad-dht: 48 h). Hosts
 * re-provide at every record refresh (announcer.ts), so a dead host's entries go after this.
 */
export const PROVIDER_VALIDITY_MS = 600_000;
/** How often DHT nodes drop expired provider entries (a scan of the local store), ms. */
const PROVIDER_CLEANUP_MS = 60_000;
/**
 * Whether libp2p pings every open connection (every 10 s by default): that cost grows with the
 * connections a node holds, i.e. with the swarm (~34 ping streams/s in a 19-process swarm). Off:
 * dead peers are found by TCP closing, failed RPCs, kad-dht's own contact checks and record expiry.
 */
const CONNECTION_MONITOR = false;
/**
 * Valid values that end a record search early (kad-dht's own `get` asks every peer it can reach).
 * Hosts put each record on the k closest peers; the selector keeps the highest seq found.
 */
const ENOUGH_VALUES = 2;
/**
 * The shape of kad-dht queries, for a swarm of tens to thousands of nodes. kad-dht 16's defaults
 * (alpha 10, disjointPaths 10, k 20) walk ten paths that each query until they hold 20 responders,
 * and provide or put to 20 peers: measured among 60 nodes, a provide cost 46 DHT streams, a put 43,
 * a provider search 25, a record GET 22. With 3 in flight on 2 disjoint paths and k = 10 (a value
 * or provider entry is stored on the 10 closest peers; with 20 % of a swarm crashing at once, the
 * chance that all 10 go is 1e-7): 24, 23, 6 and 12 (BENCHMARKS.md, scale). One disjoint path was
 * tried before and dropped: in a swarm a few seconds old, a provide then reached too few peers.
 */
const KAD_QUERY = { alpha: 3, disjointPaths: 2, kBucketSize: 10 };

/** Builds a node (not started). Bad multiaddrs fail here with BadConfigError. */
export async function createSwarmNode(init: SwarmNodeInit): Promise<SwarmNode> {
  const log = init.log;
  const listen = init.listen && init.listen.length > 0 ? init.listen : ['/ip4/127.0.0.1/tcp/0'];
  const boot = init.bootstrap ?? [];
  for (const [flag, list] of [['listen', listen], ['bootstrap', boot]] as const) {
    for (const ma of list) {
      try { multiaddr(ma); } catch { throw new BadConfigError(`--${flag} ${JSON.stringify(ma)} is not a multiaddr`); }
    }
  }
  for (const ma of boot) {
    if (!ma.includes('/p2p/')) throw new BadConfigError(`--bootstrap ${ma} must end in /p2p/<peerId>`);
  }
  const limits = init.connectionLimits ?? CONNECTION_LIMITS;
  try { checkLimits(limits); } catch (err) { throw new BadConfigError((err as Error).message); }
  const privateKey = init.privateKey ?? (init.keyFile ? await loadOrCreateKey(init.keyFile) : await generateKeyPair('Ed25519'));
  const libp2p = await createLibp2p({
    privateKey,
    // libp2p's debug loggers cost ~5% CPU to create per connection even when off; skip them unless
    // DEBUG asks for libp2p logs.
    ...(process.env.DEBUG ? {} : { logger: silentComponentLogger }),
    start: false,
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: boot.length > 0 ? [bootstrapDiscovery({ list: boot, timeout: 10 })] : [],
    connectionManager: {
      // Every node of a one-machine swarm dials from 127.0.0.1: the default (5/s) resets them.
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 256,
      dialTimeout: DIAL_TIMEOUT_MS,
    },
    // Under CPU starvation (many nodes on 2 cores) the 10 s heartbeat pings time out and, by default,
    // abort healthy connections, whose redials starve the event loop further. Dead peers are found
    // by TCP closing, kad-dht's own contact pings and record expiry instead.
    connectionMonitor: { enabled: CONNECTION_MONITOR, abortConnectionOnPingFailure: false },
    ...(init.rpcCounter ? { metrics: () => countingMetrics(init.rpcCounter!) } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        ...KAD_QUERY,
        clientMode: init.clientMode ?? false,
        // Keep private and loopback addresses: a local or LAN swarm has no public ones.
        peerInfoMapper: passthroughMapper,
        validators: { [HOST_RECORD_NAMESPACE]: hostRecordValidator(init.clock) },
        selectors: { [HOST_RECORD_NAMESPACE]: hostRecordSelector },
        // Stale provider entries of dead hosts go after the validity. Threshold 0: kad-dht
        // re-provides our own entries only once expired, which the announcer's refreshes (every
        // <= 4 min) prevent; a host that moved away from an expert drops its entry (unprovide).
        reprovide: { validity: init.providerValidityMs ?? PROVIDER_VALIDITY_MS, interval: PROVIDER_CLEANUP_MS, threshold: 0 },
        // Queries wait for the first self-query; start it at once instead of after 1 s.
        initialQuerySelfInterval: 0,
      }),
    },
  }) as unknown as SwarmLibp2p;
  return wrap(libp2p, privateKey, boot, log, limits);
}

function wrap(libp2p: SwarmLibp2p, privateKey: PrivateKey, boot: string[], log: Logger, limits: ConnectionTrimmerInit): SwarmNode {
  const dht = libp2p.services.dht;
  let redial: NodeJS.Timeout | undefined;
  let trimmer: ConnectionTrimmer | undefined;
  let trimmedBefore = 0;
  const ownKey = Buffer.from(hostRecordKey(libp2p.peerId.toString()));
  /** What this node last stored under its own record key: served to whoever asks (record-protocol.ts). */
  let ownRecord: Uint8Array | undefined;
  let shared: () => readonly Uint8Array[] = () => [];

  const dialBootstrap = async (): Promise<void> => {
    const self = libp2p.peerId.toString();
    await Promise.all(boot.filter((ma) => !ma.endsWith(`/p2p/${self}`)).map(async (ma) => {
      try {
        await libp2p.dial(multiaddr(ma), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
      } catch (err) {
        log.warn('bootstrap peer did not answer', { multiaddr: ma, err });
      }
    }));
  };

  return {
    peerId: libp2p.peerId.toString(),
    privateKey,
    libp2p,
    multiaddrs: () => libp2p.getMultiaddrs().map((ma) => ma.toString()),
    connectionsTrimmed: () => trimmedBefore + (trimmer?.closed() ?? 0),
    shareRecords(known) { shared = known; },
    async start() {
      await libp2p.start();
      await serveOwnRecord(libp2p, () => ownRecord);
      await serveKnownRecords(libp2p, () => ownRecord, () => shared());
      trimmer = startConnectionTrimmer(limits, { libp2p, clock: Date.now, log });
      log.info('libp2p node started', { peerId: libp2p.peerId.toString(), multiaddrs: libp2p.getMultiaddrs().map(String) });
      if (boot.length === 0) return;
      await dialBootstrap();
      redial = setInterval(() => {
        if (libp2p.getConnections().length === 0) void dialBootstrap();
      }, REDIAL_MS);
      redial.unref();
    },
    async stop() {
      if (redial) clearInterval(redial);
      redial = undefined;
      trimmedBefore += trimmer?.closed() ?? 0;
      trimmer?.stop();
      trimmer = undefined;
      await libp2p.stop();
    },
    provide: (cid, opts = {}) => countResponses(dht.provide(cid, { signal: opts.signal }), 'ADD_PROVIDER', opts.signal),
    findProviders: (cid, opts = {}) => findProviders(dht, cid, opts),
    put: (key, value, opts = {}) => {
      if (ownKey.equals(key)) ownRecord = value;
      return countResponses(dht.put(key, value, { signal: opts.signal }), 'PUT_VALUE', opts.signal);
    },
    fetchRecord: (peerId, opts = {}) => fetchRecordDirect(libp2p, peerId, { signal: opts.signal }),
    fetchKnownRecords: (peerId, opts = {}) => fetchKnownRecords(libp2p, peerId, { signal: opts.signal }),
    get: (key, opts = {}) => getBest(dht, key, opts),
    unprovide: (cid) => dht.cancelReprovide(cid),
  };
}

/** Peers that acknowledged a provide or put; an abort ends the count instead of throwing. */
async function countResponses(events: AsyncIterable<QueryEvent>, message: 'ADD_PROVIDER' | 'PUT_VALUE', signal?: AbortSignal): Promise<number> {
  let acked = 0;
  try {
    for await (const ev of events) {
      if (ev.name === 'PEER_RESPONSE' && ev.messageName === message) acked++;
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  }
  return acked;
}

/**
 * Provider ids from every PEER_RESPONSE (each remote peer sends all the providers it holds; kad-dht's
 * own PROVIDER events stop at k) and from the final PROVIDER events, deduplicated. With
 * `enoughResponses` the search ends once that many peers answered with providers.
 */
async function* findProviders(dht: KadDHT, cid: CID, opts: DhtOpts): AsyncGenerator<string> {
  const seen = new Set<string>();
  let answered = 0;
  try {
    for await (const ev of dht.findProviders(cid, { signal: opts.signal })) {
      const list = ev.name === 'PEER_RESPONSE' || ev.name === 'PROVIDER' ? ev.providers : [];
      if (ev.name === 'PEER_RESPONSE' && list.length > 0 && opts.enoughResponses !== undefined && ++answered > opts.enoughResponses) break;
      for (const p of list) {
        const id = p.id.toString();
        if (seen.has(id)) continue;
        seen.add(id);
        yield id;
      }
    }
  } catch (err) {
    if (!opts.signal?.aborted) throw err;
  }
}

/**
 * Collects the valid values kad-dht sees for `key` (remote values are validated before they are
 * yielded), up to ENOUGH_VALUES, and picks the best with the namespace's selector, so that an abort
 * returns what was found so far instead of nothing.
 */
async function getBest(dht: KadDHT, key: Uint8Array, opts: DhtOpts): Promise<Uint8Array | undefined> {
  const values: Uint8Array[] = [];
  let validated = 0;
  try {
    for await (const ev of dht.get(key, { signal: opts.signal })) {
      if (ev.name === 'VALUE') values.push(ev.value);
      else if (ev.name === 'PEER_RESPONSE' && ev.record != null) values.push(ev.record.value);
      if (ev.name === 'VALUE' && ++validated >= ENOUGH_VALUES) break;
    }
  } catch (err) {
    // Aborts, and kad-dht's failed "correction" puts to peers holding older values, keep what we have.
    if (values.length === 0 && !opts.signal?.aborted && (err as Error).name !== 'QueryError') throw err;
  }
  if (values.length === 0) return undefined;
  const ns = new TextDecoder().decode(key).split('/')[1] ?? '';
  const select = dht.selectors[ns];
  const i = select ? await select(key, values) : 0;
  return values[i];
}
