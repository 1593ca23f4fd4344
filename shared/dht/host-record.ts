/**
 * A host's signed, expiring record (HostRecord of shared/transport-types.ts) as stored in the DHT
 * under `/swarmpath-host/<peerId>`, plus the kad-dht validator and selector for that namespace.
 *
 * Wire form (UTF-8 JSON): `{"v":1,"payload":"<the record as a JSON string>","sig":"<base64>"}`.
 * `sig` is the host's libp2p key signing `SIGNING_DOMAIN + payload`, so the record can only come from
 * the peer named by the key (ed25519 peer ids embed their public key: no key lookup is needed).
 * The validator rejects (InvalidHostRecordError, with a `reason`): values over HOST_RECORD_MAX_BYTES,
 * malformed JSON or fields, a missing signature, a signature by another key than the peer named in
 * the DHT key, a payload naming another peer, records past `expiresAt`, and records whose `expiresAt`
 * lies further ahead than the longest TTL a host may announce (plus clock skew). The fields are
 * checked by one zod schema (host-record-schema.ts): `grpc` must be a plain `host:port`.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { SwarmpathError } from '../errors.ts';
import type { HostRecord } from '../transport-types.ts';
import { MAX_CLOCK_SKEW_MS, MAX_RECORD_TTL_S, describeIssue, hostRecordSchema } from './host-record-schema.ts';
import { peerIdOfHostRecordKey } from './keys.ts';

/** Largest encoded record accepted, bytes. */
export const HOST_RECORD_MAX_BYTES = 16 * 1024;
const SIGNING_DOMAIN = 'swarmpath-host-record/1\n';

export type HostRecordRejection = 'too-large' | 'malformed' | 'unsigned' | 'bad-signature' | 'wrong-peer' | 'expired' | 'far-future' | 'bad-key';

/** A host record that must not be stored or used; `reason` says why. */
export class InvalidHostRecordError extends SwarmpathError {
  readonly reason: HostRecordRejection;
  constructor(reason: HostRecordRejection, message: string) {
    super('INTEGRITY', `invalid host record (${reason}): ${message}`);
    this.name = 'InvalidHostRecordError';
    this.reason = reason;
  }
}

/** Signs `record` with `privateKey` and returns the DHT value; only valid when `record.peerId` is that key's peer. */
export async function signHostRecord(record: HostRecord, privateKey: PrivateKey): Promise<Uint8Array> {
  const payload = JSON.stringify(checkFields(record));
  const sig = await privateKey.sign(new TextEncoder().encode(SIGNING_DOMAIN + payload));
  return new TextEncoder().encode(JSON.stringify({ v: 1, payload, sig: Buffer.from(sig).toString('base64') }));
}

/** Parses a DHT value without checking its signature or expiry (throws on malformed input). */
export function decodeHostRecord(value: Uint8Array): { record: HostRecord; payload: string; sig: Uint8Array | undefined } {
  if (value.byteLength > HOST_RECORD_MAX_BYTES) throw new InvalidHostRecordError('too-large', `${value.byteLength} bytes`);
  let env: unknown;
  try { env = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(value)); } catch { throw new InvalidHostRecordError('malformed', 'not UTF-8 JSON'); }
  if (!isObject(env) || env.v !== 1 || typeof env.payload !== 'string') throw new InvalidHostRecordError('malformed', 'not a v1 envelope');
  let fields: unknown;
  try { fields = JSON.parse(env.payload); } catch { throw new InvalidHostRecordError('malformed', 'payload is not JSON'); }
  const record = checkFields(fields);
  const sig = typeof env.sig === 'string' && env.sig.length > 0 ? new Uint8Array(Buffer.from(env.sig, 'base64')) : undefined;
  return { record, payload: env.payload, sig };
}

/**
 * Full check of a DHT value stored under `key` at time `nowMs`: shape, signature by the peer the key
 * names, payload peer = key peer, not expired. Resolves the record or throws InvalidHostRecordError.
 */
export async function verifyHostRecord(key: Uint8Array, value: Uint8Array, nowMs: number): Promise<HostRecord> {
  const keyPeer = peerIdOfHostRecordKey(key);
  if (keyPeer === undefined) throw new InvalidHostRecordError('bad-key', 'not a /swarmpath-host/<peerId> key');
  let peer: PeerId;
  try { peer = peerIdFromString(keyPeer); } catch { throw new InvalidHostRecordError('bad-key', `not a peer id: ${keyPeer}`); }
  if (peer.publicKey === undefined) throw new InvalidHostRecordError('bad-key', 'peer id does not embed its public key');
  const { record, payload, sig } = decodeHostRecord(value);
  if (sig === undefined) throw new InvalidHostRecordError('unsigned', `record of ${record.peerId} has no signature`);
  const ok = await peer.publicKey.verify(new TextEncoder().encode(SIGNING_DOMAIN + payload), sig);
  if (!ok) throw new InvalidHostRecordError('bad-signature', `signature is not by ${keyPeer}`);
  if (record.peerId !== keyPeer) throw new InvalidHostRecordError('wrong-peer', `record names ${record.peerId}, key names ${keyPeer}`);
  if (record.expiresAt <= nowMs) throw new InvalidHostRecordError('expired', `expired ${nowMs - record.expiresAt} ms ago`);
  if (record.expiresAt > nowMs + MAX_RECORD_TTL_S * 1000 + MAX_CLOCK_SKEW_MS) {
    throw new InvalidHostRecordError('far-future', `expires in ${Math.round((record.expiresAt - nowMs) / 1000)} s; the longest record TTL is ${MAX_RECORD_TTL_S} s`);
  }
  return record;
}

/** kad-dht validator for the `swarmpath-host` namespace (throws to reject). */
export function hostRecordValidator(clock: () => number = Date.now): (key: Uint8Array, value: Uint8Array) => Promise<void> {
  return async (key, value) => { await verifyHostRecord(key, value, clock()); };
}

/**
 * kad-dht selector for the `swarmpath-host` namespace: the index of the record with the highest
 * `seq` (ties: the later `expiresAt`, then the first). Undecodable records never win.
 */
export function hostRecordSelector(_key: Uint8Array, values: Uint8Array[]): number {
  let best = 0;
  let bestRank: [number, number] = [-Infinity, -Infinity];
  values.forEach((v, i) => {
    let rank: [number, number];
    try { const { record } = decodeHostRecord(v); rank = [record.seq, record.expiresAt]; } catch { return; }
    if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) { best = i; bestRank = rank; }
  });
  return best;
}

/**
 * Adds to `newest` (peer id -> record) the records of `model` that are live at `nowMs` and, with
 * `expertId`, list it; of one host's records the highest seq wins. Returns `newest`.
 */
export function keepNewestLive(newest: Map<string, HostRecord>, records: readonly HostRecord[], model: string, nowMs: number, expertId?: string): Map<string, HostRecord> {
  return keepNewest(newest, records.filter((r) => r.model === model && isLiveRecord(r, nowMs) && (expertId === undefined || r.experts.includes(expertId))));
}

/** Adds `records` to `newest` (peer id -> record): of one host's records the highest seq wins. Returns `newest`. */
export function keepNewest(newest: Map<string, HostRecord>, records: readonly HostRecord[]): Map<string, HostRecord> {
  for (const r of records) {
    const prev = newest.get(r.peerId);
    if (!prev || r.seq > prev.seq) newest.set(r.peerId, r);
  }
  return newest;
}

/** Whether a host may be used now: ONLINE and not expired. */
export function isLiveRecord(record: HostRecord, nowMs: number): boolean {
  return record.state === 'ONLINE' && record.expiresAt > nowMs;
}

function checkFields(x: unknown): HostRecord {
  const r = hostRecordSchema.safeParse(x);
  if (!r.success) throw new InvalidHostRecordError('malformed', describeIssue(r.error));
  return r.data;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
