import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { loadOrCreateKey } from '../../../shared/dht/key-file.ts';
import { BadConfigError } from '../../../shared/errors.ts';

test('creates an ed25519 key (mode 0600) on first use and returns the same identity after', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpath-key-'));
  try {
    const path = join(dir, 'sub', 'node.key');
    const a = await loadOrCreateKey(path);
    assert.equal(a.type, 'Ed25519');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const b = await loadOrCreateKey(path);
    assert.equal(peerIdFromPrivateKey(b).toString(), peerIdFromPrivateKey(a).toString());
    const [c, d] = await Promise.all([loadOrCreateKey(join(dir, 'race.key')), loadOrCreateKey(join(dir, 'race.key'))]);
    assert.equal(peerIdFromPrivateKey(c).toString(), peerIdFromPrivateKey(d).toString(), 'two first runs at once disagree');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file that is not a key fails with BadConfigError naming the flag', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpath-key-'));
  try {
    const path = join(dir, 'junk.key');
    await writeFile(path, 'not a key');
    await assert.rejects(loadOrCreateKey(path), (err: unknown) => err instanceof BadConfigError && /--key-file/.test(err.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
