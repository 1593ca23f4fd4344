/**
 * Downloads an expert's ONNX file from a host (FetchShard), resumably: bytes land in
 * `<dest>.<sha256 prefix>.part`, a later call resumes from that file's length, and the file is renamed
 * to `dest` only when its sha256 equals `wantSha256`. A mismatch deletes the partial file and throws
 * IntegrityError; a transport failure keeps it for the next try.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { IntegrityError } from '../errors.ts';
import type { CallOpts } from '../transport-types.ts';
import type { ShardChunk } from './client.ts';

/** What fetchShard needs of a client. */
export interface ShardSource {
  readonly address: string;
  fetchShardChunks(expertId: string, offset: number, opts: CallOpts): AsyncIterable<ShardChunk>;
}

export interface FetchShardResult {
  path: string;
  bytes: number;
  /** Bytes already on disk from an earlier, interrupted try. */
  resumedFrom: number;
}

/** Fetches `expertId`'s shard from `client` into `dest`, verifying its sha256. */
export async function fetchShard(client: ShardSource, expertId: string, dest: string, wantSha256: string,
  opts: CallOpts): Promise<FetchShardResult> {
  const want = wantSha256.toLowerCase();
  const part = `${dest}.${want.slice(0, 16)}.part`;
  await mkdir(dirname(dest), { recursive: true });
  const hash = createHash('sha256');
  const resumedFrom = await hashExisting(part, hash);
  let offset = resumedFrom;
  let total = -1;
  const fh = await open(part, 'a');
  try {
    for await (const chunk of client.fetchShardChunks(expertId, offset, opts)) {
      if (chunk.sha256.toLowerCase() !== want) {
        await fh.close().catch(() => {});
        await rm(part, { force: true });
        throw new IntegrityError(`host ${client.address} serves ${expertId} with sha256 ${chunk.sha256}, want ${want}`);
      }
      if (chunk.offset !== offset) throw new IntegrityError(`shard ${expertId} from ${client.address}: chunk at offset ${chunk.offset}, expected ${offset}`);
      total = chunk.totalBytes;
      await fh.write(chunk.data);
      hash.update(chunk.data);
      offset += chunk.data.byteLength;
    }
  } finally {
    await fh.close().catch(() => {});
  }
  if (total >= 0 && offset !== total) {
    throw new IntegrityError(`shard ${expertId} from ${client.address} ended at byte ${offset} of ${total}`);
  }
  const got = hash.digest('hex');
  if (got !== want) {
    await rm(part, { force: true });
    throw new IntegrityError(`shard ${expertId} from ${client.address} has sha256 ${got}, want ${want}; discarded`);
  }
  await rename(part, dest);
  return { path: dest, bytes: offset, resumedFrom };
}

async function hashExisting(path: string, hash: ReturnType<typeof createHash>): Promise<number> {
  const size = await stat(path).then((s) => s.size, () => 0);
  if (size === 0) return 0;
  for await (const buf of createReadStream(path)) hash.update(buf as Buffer);
  return size;
}
