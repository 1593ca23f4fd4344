/**
 * A host proves that the gRPC endpoint a router dials belongs to the peer its DHT record names: the
 * router sends a fresh random nonce in Info, the host signs `INFO_DOMAIN + nonce` with its libp2p key,
 * and the router checks the signature against the public key embedded in the record's peer id
 * (ed25519 peer ids carry it). A record pointing at someone else's address (a sybil borrowing an
 * honest host's endpoint, or a third party's service) fails, as does a relay that cannot sign.
 */
import { randomBytes } from 'node:crypto';
import { peerIdFromString } from '@libp2p/peer-id';

const INFO_DOMAIN = new TextEncoder().encode('swarmpath-info/1\n');
/** Longest nonce a host signs, bytes. */
export const MAX_NONCE_BYTES = 64;

function signed(nonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(INFO_DOMAIN.length + nonce.length);
  out.set(INFO_DOMAIN);
  out.set(nonce, INFO_DOMAIN.length);
  return out;
}

/** A fresh nonce for one Info call. */
export function infoNonce(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** The host side: the signature of a caller's nonce (undefined for an empty or oversized nonce). */
export async function signInfoNonce(sign: (data: Uint8Array) => Promise<Uint8Array> | Uint8Array, nonce: Uint8Array): Promise<Uint8Array | undefined> {
  if (nonce.length === 0 || nonce.length > MAX_NONCE_BYTES) return undefined;
  return sign(signed(nonce));
}

/** The router side: whether `signature` is `peerId`'s key signing `nonce` (false for anything malformed). */
export async function verifyInfoSignature(peerId: string, nonce: Uint8Array, signature: Uint8Array | undefined): Promise<boolean> {
  if (!signature || signature.length === 0) return false;
  try {
    const key = peerIdFromString(peerId).publicKey;
    if (!key) return false;
    return await key.verify(signed(nonce), signature);
  } catch {
    return false;
  }
}
