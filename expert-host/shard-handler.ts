/**
 * FetchShard: streams a served expert's ONNX file (verified against the manifest at load) in 1 MiB
 * chunks from the requested offset, each chunk carrying the whole file's sha256, with backpressure.
 */
import type * as grpc from '@grpc/grpc-js';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { InternalError, InvalidArgumentError, SwarmpathError } from '../shared/errors.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';
import type { FetchShardRequestMsg, ShardChunkMsg } from '../shared/grpc/wire-types.ts';
import type { HostCore } from './host-core.ts';

/** Bytes per chunk. */
export const SHARD_CHUNK_BYTES = 1 << 20;

export type ShardCall = grpc.ServerWritableStream<FetchShardRequestMsg, ShardChunkMsg>;

/** Serves one FetchShard call. */
export async function handleFetchShard(call: ShardCall, core: HostCore, chunkBytes = SHARD_CHUNK_BYTES): Promise<void> {
  try {
    const { expertId, offset } = call.request;
    const s = core.expert(expertId);
    const size = (await stat(s.shardPath)).size;
    if (!Number.isInteger(offset) || offset < 0 || offset > size) {
      throw new InvalidArgumentError(`FetchShard: offset ${offset} is outside ${expertId}'s file of ${size} bytes`);
    }
    const sha256 = s.entry.sha256;
    const rs = createReadStream(s.shardPath, { start: offset, highWaterMark: chunkBytes });
    call.on('cancelled', () => rs.destroy());
    let at = offset;
    for await (const buf of rs) {
      const data = buf as Buffer;
      const ok = call.write({ data, offset: at, totalBytes: size, sha256 });
      at += data.byteLength;
      if (!ok) await new Promise<void>((r) => { call.once('drain', r); call.once('cancelled', r); });
      if (call.cancelled) return;
    }
    call.end();
  } catch (err) {
    if (call.cancelled) return;
    call.emit('error', toGrpcError(err instanceof SwarmpathError ? err : new InternalError(`FetchShard failed: ${(err as Error).message}`, err)));
  }
}
