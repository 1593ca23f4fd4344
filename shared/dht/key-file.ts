/**
 * A node's persistent identity: its libp2p private key in a file (protobuf bytes, mode 0600),
 * created with a fresh ed25519 key on first use, so that a bootstrap peer keeps its peer id (and so
 * its multiaddr) across restarts.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { BadConfigError } from '../errors.ts';

/** Loads the key in `path`, or creates one there (mode 0600) when the file does not exist. */
export async function loadOrCreateKey(path: string): Promise<PrivateKey> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new BadConfigError(`--key-file ${path}: ${(err as Error).message}`);
  }
  if (bytes !== undefined) {
    try { return privateKeyFromProtobuf(new Uint8Array(bytes)); } catch (err) {
      throw new BadConfigError(`--key-file ${path} does not hold a libp2p private key (${(err as Error).message})`);
    }
  }
  const key = await generateKeyPair('Ed25519');
  await mkdir(dirname(path), { recursive: true });
  // Written aside, then linked into place: a reader never sees a half-written key, and of two
  // first runs at once exactly one wins (link fails with EEXIST for the other, which uses the winner's).
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateKey(path);
    throw new BadConfigError(`--key-file ${path}: ${(err as Error).message}`);
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return key;
}
