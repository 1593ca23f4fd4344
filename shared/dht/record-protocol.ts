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

/**
 * The records a node knows, straight from it: `/swarmpath/records/1.0.0`. The answer is a sequence of
 * length-prefixed host records (the node's own first, when it has one, then the live records its
 * discovery holds), at most MAX_SHARED_RECORDS, ended by closing the stream. A router that has just
 * joined asks the first hosts it finds and so knows, in one round trip, hosts that a provider search
 * per expert would take seconds to find in a big swarm (issue 10: a fresh router's 32 searches took
 * 7 s among 200 hosts on 2 cores). Each record is signed by the host it names and verified by the
 * asker (discovery.ts `learn`): a node can withhold records or hand out older ones, never forge one.
 */
export const RECORDS_PROTOCOL = '/swarmpath/records/1.0.0';
/** Most records one answer carries (about 300 bytes each: ~80 KiB), and the most read from one. */
export const MAX_SHARED_RECORDS = 256;

/** Answers RECORDS_PROTOCOL streams with `own()` (when defined) followed by `known()`, bounded. */
export async function serveKnownRecords(libp2p: SwarmLibp2p, own: () => Uint8Array | undefined, known: () => readonly Uint8Array[]): Promise<void> {
  await libp2p.handle(RECORDS_PROTOCOL, async (stream) => {
    try {
      const mine = own();
      const values = [...(mine ? [mine] : []), ...known()].slice(0, MAX_SHARED_RECORDS);
      const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES });
      const signal = AbortSignal.timeout(5_000);
      for (const v of values) await lp.write(v, { signal });
      await stream.close();
    } catch (err) {
      stream.abort(err as Error);
    }
  }, { maxInboundStreams: 4 });
}

/** The records `peerId` shares (bytes, unverified; at most MAX_SHARED_RECORDS). Throws when it cannot be reached. */
export async function fetchKnownRecords(libp2p: SwarmLibp2p, peerId: string, opts: AbortOptions = {}): Promise<Uint8Array[]> {
  const stream = await libp2p.dialProtocol(peerIdFromString(peerId), RECORDS_PROTOCOL, opts);
  const out: Uint8Array[] = [];
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_RECORD_BYTES });
    while (out.length < MAX_SHARED_RECORDS) {
      let data;
      try {
        data = await lp.read(opts);
      } catch (err) {
        // The answer ends by closing the stream: an end of input between two records is its end.
        if ((err as Error).name === 'UnexpectedEOFError' && !opts.signal?.aborted) break;
        throw err;
      }
      if (data.byteLength > 0) out.push(data.subarray());
    }
    await stream.close(opts);
    return out;
  } catch (err) {
    stream.abort(err as Error);
    throw err;
  }
}
