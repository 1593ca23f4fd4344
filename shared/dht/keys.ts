/**
 * Names in the swarmpath DHT: the protocol id, the CIDs hosts provide (one per expert, one for the
 * whole swarm) and the key of each host's signed record. Pure functions, no I/O.
 *
 * - "who serves expert X of model M" = providers of `expertCid(M, X)`
 * - "every host of the swarm"       = providers of the `SWARM_HOSTS_CIDS` (hosts spread over buckets)
 * - "what host P offers right now"  = the value at `hostRecordKey(P)` (shared/dht/host-record.ts)
 */
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';

/** The private Kademlia protocol of swarmpath (SPEC.md section 1): no IPFS peer ever joins it. */
export const DHT_PROTOCOL = '/swarmpath/kad/1.0.0';

/** DHT key namespace of host records; validators and selectors are registered under it. */
export const HOST_RECORD_NAMESPACE = 'swarmpath-host';

const SHA2_256 = 0x12;

/** A CIDv1 (raw codec, sha2-256) of a UTF-8 name: the same name always gives the same CID. */
export function nameCid(name: string): CID {
  const hash = createHash('sha256').update(name, 'utf8').digest();
  return CID.createV1(raw.code, createDigest(SHA2_256, new Uint8Array(hash)));
}

/** The CID every host serving `expertId` of `model` provides (`swarmpath/expert/<model>/<id>`). */
export function expertCid(model: string, expertId: string): CID {
  return nameCid(`swarmpath/expert/${model}/${expertId}`);
}

/**
 * Hosts are spread over this many swarm-wide CIDs: kad-dht stops a provider search at k (20)
 * providers found in its own store, so one CID would list at most ~20 hosts; 8 buckets list ~160.
 */
export const SWARM_HOST_BUCKETS = 8;

/** The bucket (0..SWARM_HOST_BUCKETS-1) a host's peer id falls in. */
export function hostBucket(peerId: string): number {
  return createHash('sha256').update(peerId, 'utf8').digest()[0] % SWARM_HOST_BUCKETS;
}

/** Swarm-wide CIDs `swarmpath/hosts/<b>`: each host provides the one of its bucket, `ls` searches all. */
export const SWARM_HOSTS_CIDS: readonly CID[] = Object.freeze(
  Array.from({ length: SWARM_HOST_BUCKETS }, (_, b) => nameCid(`swarmpath/hosts/${b}`)));

/** The swarm-wide CID a host provides, whatever it serves, so that `ls` can list the whole swarm. */
export function swarmHostsCid(peerId: string): CID {
  return SWARM_HOSTS_CIDS[hostBucket(peerId)];
}

/** DHT key of a host's record: UTF-8 of `/swarmpath-host/<peerId>`. */
export function hostRecordKey(peerId: string): Uint8Array {
  return new TextEncoder().encode(`/${HOST_RECORD_NAMESPACE}/${peerId}`);
}

/** The peer id a host-record key names, or undefined when `key` is not a host-record key. */
export function peerIdOfHostRecordKey(key: Uint8Array): string | undefined {
  const s = new TextDecoder().decode(key);
  const prefix = `/${HOST_RECORD_NAMESPACE}/`;
  if (!s.startsWith(prefix)) return undefined;
  const id = s.slice(prefix.length);
  return id.length > 0 && !id.includes('/') ? id : undefined;
}
