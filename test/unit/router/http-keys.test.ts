/**
 * Keys and client identities: the key file's format, --api-key-file in the router's config (merged
 * with --api-key, failing fast on a bad file), which key a header carries, the fairness identity of
 * a request (key index, IPv4, IPv6 /64), and what counts as a loopback listen address.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRouterConfig } from '../../../router/config.ts';
import { keyCheck, parseKeyFile } from '../../../router/http/auth.ts';
import { addressGroup, clientId } from '../../../router/http/client-id.ts';
import { isLoopback } from '../../../router/http/server.ts';
import { BadConfigError } from '../../../shared/errors.ts';

describe('API keys', () => {
  it('a key file holds one key per line; blanks and # comments are skipped; whitespace inside a key is refused', () => {
    assert.deepEqual(parseKeyFile('# team keys\nsk-a\n\n  sk-b  \r\n#sk-old\nsk-c'), { keys: ['sk-a', 'sk-b', 'sk-c'] });
    assert.deepEqual(parseKeyFile('# nothing\n\n'), { error: 'it holds no key' });
    assert.deepEqual(parseKeyFile('sk-a\nsk b\n'), { error: 'line 2 holds whitespace inside a key' });
  });

  it('--api-key-file adds its keys to --api-key; a missing or keyless file fails fast naming the flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmpath-keys-'));
    try {
      const file = join(dir, 'keys');
      await writeFile(file, 'sk-file-1\nsk-file-2\n');
      assert.deepEqual(parseRouterConfig(['--api-key', 'sk-flag', '--api-key-file', file], {}).apiKeys, ['sk-flag', 'sk-file-1', 'sk-file-2']);
      assert.deepEqual(parseRouterConfig([], { SWARMPATH_API_KEY_FILE: file }).apiKeys, ['sk-file-1', 'sk-file-2']);
      assert.throws(() => parseRouterConfig(['--api-key-file', join(dir, 'absent')], {}),
        (e: unknown) => e instanceof BadConfigError && /--api-key-file .*absent: ENOENT/.test(e.message));
      await writeFile(file, '# none yet\n');
      assert.throws(() => parseRouterConfig(['--api-key-file', file], {}), /--api-key-file .*: it holds no key/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the HTTP edge flags have defaults and reach httpEdge', () => {
    assert.deepEqual(parseRouterConfig([], {}).httpEdge, {
      maxQueuePerClient: 4, spareSlots: 1, headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000, writeTimeoutMs: 30_000, maxConnections: 1024,
    });
    const c = parseRouterConfig(['--max-queue-per-client', '0', '--spare-slots', '2', '--headers-timeout-s', '1', '--body-timeout-s', '2.5',
      '--write-timeout-s', '3', '--max-connections', '10'], {});
    assert.deepEqual(c.httpEdge, { maxQueuePerClient: 0, spareSlots: 2, headersTimeoutMs: 1000, bodyTimeoutMs: 2500, writeTimeoutMs: 3000, maxConnections: 10 });
    assert.throws(() => parseRouterConfig(['--max-connections', '0'], {}), /--max-connections/);
  });

  it('match names the key a header carries', () => {
    const k = keyCheck(['k1', 'k2']);
    assert.equal(k.match('Bearer k2'), 1);
    assert.equal(k.match('bearer   k1 '), 0);
    assert.equal(k.match('Bearer k3'), -1);
    assert.equal(k.match('Basic k1'), -1);
    assert.equal(k.match(undefined), -1);
    assert.equal(keyCheck([]).match('Bearer k1'), -1);
    assert.ok(keyCheck([]).allows(undefined));
  });
});

describe('client identity and loopback', () => {
  it('a key counts by its index; without one, IPv4 by address and IPv6 by its /64', () => {
    assert.equal(clientId(3, '10.0.0.1'), 'key:3');
    assert.equal(clientId(-1, '10.0.0.1'), 'ip:10.0.0.1');
    assert.equal(clientId(-1, '::ffff:10.0.0.1'), 'ip:10.0.0.1');
    assert.equal(clientId(-1, undefined), 'ip:unknown');
    assert.equal(addressGroup('2001:db8:0:1:aaaa:bbbb:cccc:dddd'), '2001:db8:0:1::/64');
    assert.equal(addressGroup('2001:db8:0:1::2'), '2001:db8:0:1::/64');
    assert.equal(addressGroup('2001:DB8:0000:0001::ffff'), '2001:db8:0:1::/64');
    assert.equal(addressGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressGroup('::1'), '0:0:0:0::/64');
    assert.equal(addressGroup('1:2:3:4:5:6:7:8:9'), '1:2:3:4:5:6:7:8:9', 'malformed: as is');
  });

  it('only loopback listen addresses count as private to this machine', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com', '1270.0.0.1']) assert.ok(!isLoopback(h), h);
  });
});
