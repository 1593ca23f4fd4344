/**
 * deploy/dht-key.ts gives the peer id that `swarmpath dht --key-file` will have, creates the key once
 * and keeps it, and writes the id as a file without a newline (compose reads it with `$(cat …)`,
 * Kubernetes takes it whole into a ConfigMap).
 */
import { afterEach, beforeEach, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dhtPeerId, main } from '../../../deploy/dht-key.ts';
import { createSwarmNode } from '../../../shared/dht/node.ts';
import { silentLogger } from '../../../shared/log.ts';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'dht-key-')); });
afterEach(async () => { await rm(dir, { recursive: true, force: true }); });

/** Runs main() with stdout and stderr captured. */
async function runMain(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const w = (o: NodeJS.WriteStream, into: (s: string) => void) => {
    const orig = o.write.bind(o);
    o.write = ((chunk: string | Uint8Array) => { into(String(chunk)); return true; }) as typeof o.write;
    return () => { o.write = orig; };
  };
  const undo = [w(process.stdout, (s) => { out += s; }), w(process.stderr, (s) => { err += s; })];
  try {
    return { code: await main(argv), out, err };
  } finally {
    for (const u of undo) u();
  }
}

describe('deploy/dht-key.ts', () => {
  it('creates the key once (mode 0600) and gives the peer id of a DHT node made from it', async () => {
    const key = join(dir, 'dht', 'key');
    const id = await dhtPeerId(key);
    assert.match(id, /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
    assert.equal((await stat(key)).mode & 0o777, 0o600);
    const bytes = await readFile(key);
    assert.equal(await dhtPeerId(key), id, 'the same id again');
    assert.deepEqual(await readFile(key), bytes, 'the key is not rewritten');
    const node = await createSwarmNode({ keyFile: key, log: silentLogger });
    assert.equal(node.peerId, id);
  });

  it('prints the id and writes it to the peer id file without a newline; bad usage exits 2', async () => {
    const key = join(dir, 'key');
    const idFile = join(dir, 'bootstrap', 'peer-id');
    const r = await runMain([key, idFile]);
    assert.equal(r.code, 0, r.err);
    const id = await dhtPeerId(key);
    assert.equal(r.out, `${id}\n`);
    assert.equal(await readFile(idFile, 'utf8'), id);
    for (const argv of [[], ['--help'], [key, idFile, 'extra']]) {
      const bad = await runMain(argv);
      assert.equal(bad.code, 2, JSON.stringify(argv));
      assert.match(bad.err, /^usage: node deploy\/dht-key\.ts KEY_FILE \[PEER_ID_FILE\]/);
    }
  });
});
