/**
 * A host's own record, straight from the host: `/swarmpath/record/1.0.0`. Every node answers a stream
 * of this protocol with the record it last stored under its own key (length-prefixed; empty before
 * it published one). Discovery asks a provider for its record this way first (one stream to a peer
 * the provider search already named, against a DHT GET's walk over several peers, most of them
 * dialled for it) and falls back to the GET when the provider cannot be reached or answers nothing
 * valid. The record is signed by the host's key and checked against the key of the peer asked
 * (host-record.ts), so the host can only hand out its own record — at worst an older one of its own.
 */
import type { AbortOptions } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { lpStream } from '@libp2p/utils';
import type { SwarmLibp2p } from './node.ts';

export const RECORD_PROTOCOL = '/swarmpath/record/1.0.0';
/** Largest record answered or accepted, bytes (a record is well under 1 KiB). */
const MAX_RECORD_BYTES = 16 * 1024;

/** Answers RECORD_PROTOCOL streams with `current()` (empty when undefined). */
export async function serveOwnRecord(libp2p: SwarmLibp2p, current: () => Uint8Array | undefined): Promise<void> {
  await libp2p.handle(RECORD_PROTOCOL, async (stream) => {
    try {
      await lpStream(stream, { maxDataLength: MAX_RECORD_BYTES }).write(current() ?? new Uint8Array(0), { signal: AbortSignal.timeout(5_000) });
      await stream.close();
    } catch (err) {
      stream.abort(err as Error);
    }
  }, { maxInboundStreams: 8 });
}

/** The record `peerId` serves itself (bytes, unverified), or undefined when it has none. Throws when it cannot be reached. */
export async function fetchRecordDirect(libp2p: SwarmLibp2p, peerId: string, opts: AbortOptions = {}): Promise<Uint8Array | undefined> {
  const stream = await libp2p.dialProtocol(peerIdFromString(peerId), RECORD_PROTOCOL, opts);
  try {
    const data = await lpStream(stream, { maxDataLength: MAX_RECORD_BYTES }).read(opts);
    await stream.close(opts);
    return data.byteLength > 0 ? data.subarray() : undefined;
  } catch (err) {
    stream.abort(err as Error);
    throw err;
  }
}
