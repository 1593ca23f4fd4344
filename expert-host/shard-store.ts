/**
 * Where a host finds each served expert's ONNX file, verified against the manifest (size + sha256;
 * a mismatch is refused naming the file): the model package itself, else the `--store` folder, else
 * (for migrating / --auto hosts) fetched from a live replica over FetchShard into the store. A
 * replica that sends a wrong or oversized file is skipped for the next (fetch-shard.ts stops at the
 * manifest's size and discards what fails the hash, so the next replica's download starts clean).
 */
import { access } from 'node:fs/promises';
import { BadPackageError, SwarmpathError } from '../shared/errors.ts';
import { fetchShard } from '../shared/grpc/fetch-shard.ts';
import type { GrpcExpertClient } from '../shared/grpc/client.ts';
import type { Logger } from '../shared/log.ts';
import type { ExpertEntry, FileRef } from '../shared/manifest.ts';
import type { ModelPackage } from '../shared/runtime-types.ts';
import type { Discovery } from '../shared/transport-types.ts';

export interface ShardStoreComponents {
  pkg: ModelPackage;
  /** The same manifest over the store folder (packageOf(store, manifest)), when --store is set. */
  storePkg?: ModelPackage;
  verifyFile(pkg: ModelPackage, ref: FileRef): Promise<string>;
  discovery?: Discovery;
  connect?: (address: string) => GrpcExpertClient;
  log: Logger;
}

export interface LocatedShard {
  /** The package (the model's or the store's) in which the verified file lies. */
  pkg: ModelPackage;
  path: string;
  source: 'package' | 'store' | 'fetched';
}

const exists = (p: string) => access(p).then(() => true, () => false);

/** Finds (or fetches) and verifies `entry`'s shard. */
export async function locateShard(entry: ExpertEntry, c: ShardStoreComponents): Promise<LocatedShard> {
  const local = c.pkg.filePath(entry.file);
  if (await exists(local) || !c.storePkg) return { pkg: c.pkg, path: await c.verifyFile(c.pkg, entry), source: 'package' };
  const stored = c.storePkg.filePath(entry.file);
  if (await exists(stored)) return { pkg: c.storePkg, path: await c.verifyFile(c.storePkg, entry), source: 'store' };
  if (!c.discovery || !c.connect) {
    throw new BadPackageError(`expert ${entry.id}: file ${entry.file} is in neither ${c.pkg.dir} nor ${c.storePkg.dir}, and no DHT to fetch it from`);
  }
  const model = c.pkg.manifest.name;
  const replicas = await c.discovery.replicas(model, entry.id, { fresh: true });
  let lastErr: unknown;
  for (const r of replicas) {
    const client = c.connect(r.grpc);
    try {
      c.log.info(`fetching ${entry.file} from ${r.peerId} at ${r.grpc}`);
      await fetchShard(client, entry.id, stored, entry.sha256, { deadlineMs: Date.now() + 120_000, expectedBytes: entry.bytes });
      return { pkg: c.storePkg, path: await c.verifyFile(c.storePkg, entry), source: 'fetched' };
    } catch (err) {
      lastErr = err;
      c.log.warn(`fetching ${entry.id} from ${r.grpc} failed`, { error: err });
    } finally {
      client.close();
    }
  }
  throw new SwarmpathError('NO_LIVE_REPLICA', `expert ${entry.id}: file ${entry.file} is not local and no replica served it` +
    (lastErr ? ` (last error: ${(lastErr as Error).message})` : ''));
}
