/**
 * `node deploy/dht-key.ts KEY_FILE [PEER_ID_FILE]`: the identity of a bootstrap DHT node, made
 * before the node starts, so that hosts and routers can be given its multiaddr
 * (`/dns4/NAME/tcp/4001/p2p/<peer id>`) in their configuration.
 *
 * Loads the libp2p key in KEY_FILE, or creates it there (shared/dht/key-file.ts, the same code as
 * `swarmpath dht --key-file KEY_FILE`: the node started on that file has this peer id), prints the
 * peer id on stdout and, when PEER_ID_FILE is given, writes it there with no newline (a Kubernetes
 * ConfigMap or a shell `$(cat …)` takes the file as it is). Running it again changes nothing.
 * Used by deploy/compose.yaml (service `dht-key`) and, for Kubernetes, by hand (deploy/README.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { loadOrCreateKey } from '../shared/dht/key-file.ts';

/** The peer id of the key in `keyFile`, created (mode 0600) when the file does not exist. */
export async function dhtPeerId(keyFile: string): Promise<string> {
  return peerIdFromPrivateKey(await loadOrCreateKey(keyFile)).toString();
}

/** Writes `peerId` to `file` whole or not at all (a reader never sees half an id). */
export async function writePeerId(file: string, peerId: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, peerId, { mode: 0o644 });
  await rename(tmp, file);
}

/** The command; resolves its exit code (2 on bad usage). */
export async function main(argv: readonly string[]): Promise<number> {
  const [keyFile, peerIdFile, ...extra] = argv;
  if (!keyFile || keyFile.startsWith('-') || extra.length > 0) {
    process.stderr.write('usage: node deploy/dht-key.ts KEY_FILE [PEER_ID_FILE]\n');
    return 2;
  }
  const peerId = await dhtPeerId(keyFile);
  if (peerIdFile) await writePeerId(peerIdFile, peerId);
  process.stdout.write(`${peerId}\n`);
  return 0;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`dht-key: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
