/**
 * Downloads an expert's ONNX file from a host (FetchShard), resumably: bytes land in
 * `<dest>.<sha256 prefix>.part`, a later call resumes from that file's length, and the file is renamed
 * to `dest` only when its sha256 equals `wantSha256`.
 *
 * The host may lie. With `expectedBytes` (the manifest's size; always pass it) a chunk that claims
 * another total, or that would take the file past that size, fails the fetch at once: the stream is
 * cancelled (no more bytes are read) and the partial file deleted, so a lying host cannot fill the
 * disk and the next try starts clean. A wrong sha256 (claimed, or of the finished file) deletes the
 * partial file too; when that file had been resumed, the bad bytes may be older than this host's, so
 * the file is fetched once more from scratch before giving up. A transport failure or a stream that
 * ends early keeps the partial file for the next try (whose final hash check still guards it).
 */
import { createHash, type Hash } from 'node:crypto';
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

export interface FetchShardOpts extends CallOpts {
  /** The file's size from the manifest; without it, the first chunk's claimed total is the bound. */
  expectedBytes?: number;
}

export interface FetchShardResult {
  path: string;
  bytes: number;
  /** Bytes already on disk from an earlier, interrupted try. */
  resumedFrom: number;
}

/** The partial file of a download of `dest` whose sha256 is `sha256`. */
export function partPath(dest: string, sha256: string): string {
  return `${dest}.${sha256.toLowerCase().slice(0, 16)}.part`;
}

/** Fetches `expertId`'s shard from `client` into `dest`, verifying its size and sha256. */
export async function fetchShard(client: ShardSource, expertId: string, dest: string, wantSha256: string,
  opts: FetchShardOpts): Promise<FetchShardResult> {
  const first = await attempt(client, expertId, dest, wantSha256.toLowerCase(), opts);
  if (first.type === 'ok') return first.result;
  if (first.resumedFrom === 0) throw first.error;
  const again = await attempt(client, expertId, dest, wantSha256.toLowerCase(), opts);
  if (again.type === 'ok') return again.result;
  throw again.error;
}

type Attempt = { type: 'ok'; result: FetchShardResult } | { type: 'bad-hash'; error: IntegrityError; resumedFrom: number };

async function attempt(client: ShardSource, expertId: string, dest: string, want: string, opts: FetchShardOpts): Promise<Attempt> {
  const part = partPath(dest, want);
  const from = `shard ${expertId} from ${client.address}`;
  await mkdir(dirname(dest), { recursive: true });
  let resumedFrom = await stat(part).then((s) => s.size, () => 0);
  if (opts.expectedBytes !== undefined && resumedFrom > opts.expectedBytes) {
    await rm(part, { force: true });
    resumedFrom = 0;
  }
  const hash = createHash('sha256');
  if (resumedFrom > 0) await hashFile(part, hash);
  let offset = resumedFrom;
  let total = opts.expectedBytes ?? -1;
  const fh = await open(part, 'a');
  const discard = async (message: string) => {
    await fh.close().catch(() => {});
    await rm(part, { force: true });
    return new IntegrityError(`${message}; partial file discarded`);
  };
  try {
    for await (const chunk of client.fetchShardChunks(expertId, offset, opts)) {
      if (chunk.sha256.toLowerCase() !== want) throw await discard(`host ${client.address} serves ${expertId} with sha256 ${chunk.sha256}, want ${want}`);
      if (total < 0) total = chunk.totalBytes;
      if (chunk.totalBytes !== total) throw await discard(`${from} claims ${chunk.totalBytes} bytes, the file has ${total}`);
      if (chunk.offset !== offset) throw new IntegrityError(`${from}: chunk at offset ${chunk.offset}, expected ${offset}`);
      if (offset + chunk.data.byteLength > total) throw await discard(`${from} sent more than the file's ${total} bytes`);
      await fh.write(chunk.data);
      hash.update(chunk.data);
      offset += chunk.data.byteLength;
    }
  } finally {
    await fh.close().catch(() => {});
  }
  if (total >= 0 && offset !== total) throw new IntegrityError(`${from} ended at byte ${offset} of ${total}`);
  const got = hash.digest('hex');
  if (got !== want) {
    return { type: 'bad-hash', error: await discard(`${from} has sha256 ${got}, want ${want}`), resumedFrom };
  }
  await rename(part, dest);
  return { type: 'ok', result: { path: dest, bytes: offset, resumedFrom } };
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const buf of createReadStream(path)) hash.update(buf as Buffer);
}
