/**
 * An in-memory stand-in for the DHT operations of a SwarmNode (shared/dht/node.ts SwarmDht), for
 * unit tests of the announcer and discovery logic only. One shared store; each view is one peer.
 * Records are validated on put like kad-dht does (unless `raw` is used to plant bad ones).
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import type { CID } from 'multiformats/cid';
import type { SwarmDht, DhtOpts } from '../../../shared/dht/node.ts';
import { hostRecordSelector, hostRecordValidator } from '../../../shared/dht/host-record.ts';

export interface MemoryPeer extends SwarmDht {
  readonly peerId: string;
  readonly privateKey: PrivateKey;
}

export interface MemoryDht {
  peer(): Promise<MemoryPeer>;
  /** Stores a value without validation (to plant forged or stale records). */
  raw(key: Uint8Array, value: Uint8Array): void;
  /** Adds a provider without any record. */
  addProvider(cid: CID, peerId: string): void;
  /** Values held at a key, oldest first. */
  values(key: Uint8Array): Uint8Array[];
  /** Peers whose record fetches never answer (until aborted). */
  readonly hang: Set<string>;
  /** Counters of calls, by operation. */
  readonly calls: { provide: number; findProviders: number; put: number; get: number; unprovide: number };
  /** Makes every put fail while true. */
  failPuts: boolean;
  /** What each peer answers when asked for the records it knows (record-protocol.ts); a peer absent here is unreachable. */
  readonly shares: Map<string, () => readonly Uint8Array[]>;
  /** While true, get returns the newest stored value unvalidated (a lying or buggy peer). */
  unvalidatedGets: boolean;
}

const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');

function untilAborted(signal?: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function createMemoryDht(clock: () => number = Date.now): MemoryDht {
  const store = new Map<string, Uint8Array[]>();
  const providers = new Map<string, Set<string>>();
  const validate = hostRecordValidator(clock);
  const dht: MemoryDht = {
    hang: new Set(),
    calls: { provide: 0, findProviders: 0, put: 0, get: 0, unprovide: 0 },
    failPuts: false,
    unvalidatedGets: false,
    shares: new Map(),
    raw(key, value) { store.set(hex(key), [...(store.get(hex(key)) ?? []), value]); },
    addProvider(cid, peerId) {
      const set = providers.get(cid.toString()) ?? new Set();
      set.add(peerId);
      providers.set(cid.toString(), set);
    },
    values(key) { return store.get(hex(key)) ?? []; },
    async peer() {
      const privateKey = await generateKeyPair('Ed25519');
      const peerId = peerIdFromPrivateKey(privateKey).toString();
      return {
        peerId,
        privateKey,
        async provide(cid: CID, opts?: DhtOpts) {
          opts?.signal?.throwIfAborted();
          dht.calls.provide++;
          dht.addProvider(cid, peerId);
          return 1;
        },
        // Like kad-dht: copies held by other nodes linger until they expire; only the count changes here.
        async unprovide() { dht.calls.unprovide++; },
        async *findProviders(cid: CID, opts?: DhtOpts) {
          opts?.signal?.throwIfAborted();
          dht.calls.findProviders++;
          for (const p of providers.get(cid.toString()) ?? []) yield p;
        },
        async put(key: Uint8Array, value: Uint8Array, opts?: DhtOpts) {
          opts?.signal?.throwIfAborted();
          dht.calls.put++;
          if (dht.failPuts) throw new Error('put failed (test)');
          await validate(key, value);
          dht.raw(key, value);
          return 1;
        },
        async fetchKnownRecords(from: string, opts?: DhtOpts) {
          opts?.signal?.throwIfAborted();
          const share = dht.shares.get(from);
          if (!share) throw new Error(`${from} cannot be reached (test)`);
          return [...share()];
        },
        async get(key: Uint8Array, opts?: DhtOpts) {
          dht.calls.get++;
          const owner = new TextDecoder().decode(key).split('/')[2] ?? '';
          if (dht.hang.has(owner)) return untilAborted(opts?.signal);
          if (dht.unvalidatedGets) return dht.values(key).at(-1);
          const valid: Uint8Array[] = [];
          for (const v of dht.values(key)) {
            try { await validate(key, v); valid.push(v); } catch { /* kad-dht drops invalid values */ }
          }
          return valid.length === 0 ? undefined : valid[hostRecordSelector(key, valid)];
        },
      };
    },
  };
  return dht;
}
