import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { parseRouterConfig } from '../../../router/config.ts';
import { BadConfigError } from '../../../shared/errors.ts';

describe('router config', () => {
  it('has the SPEC defaults', () => {
    const c = parseRouterConfig([], {});
    assert.equal(c.model, 'models/swarmpath-tiny');
    assert.equal(c.httpHost, '127.0.0.1');
    assert.equal(c.httpPort, 8080);
    assert.deepEqual(c.apiKeys, []);
    assert.deepEqual(c.bootstrap, []);
    assert.equal(c.wireDtype, 'float32');
    assert.equal(c.discoveryCacheMs, 30_000);
    assert.equal(c.verifyHosts, true);
    assert.ok(Object.isFrozen(c));
  });
  it('reads flags and the environment', () => {
    const c = parseRouterConfig(['--api-key', 'a', '--api-key=b', '--http-listen', '0.0.0.0:0', '--replica-wait-s', '2'],
      { SWARMPATH_MODEL: '/m', SWARMPATH_BOOTSTRAP: '/ip4/1.2.3.4/tcp/1/p2p/x, /ip4/1.2.3.4/tcp/2/p2p/y' });
    assert.deepEqual(c.apiKeys, ['a', 'b']);
    assert.equal(c.model, '/m');
    assert.equal(c.bootstrap.length, 2);
    assert.equal(c.httpHost, '0.0.0.0');
    assert.equal(c.httpPort, 0);
    assert.equal(c.noReplicaWaitMs, 2000);
    assert.deepEqual(parseRouterConfig([], { SWARMPATH_API_KEYS: 'k1,k2' }).apiKeys, ['k1', 'k2']);
  });
  it('takes --dht-max-connections (192 by default, at least 24)', () => {
    assert.equal(parseRouterConfig([], {}).dhtMaxConnections, 192);
    assert.equal(parseRouterConfig(['--dht-max-connections', '64'], {}).dhtMaxConnections, 64);
    assert.throws(() => parseRouterConfig(['--dht-max-connections', '23'], {}), (e: unknown) => e instanceof BadConfigError && /--dht-max-connections/.test(e.message));
  });
  it('fails fast on a bad flag, naming it', () => {
    assert.throws(() => parseRouterConfig(['--http-listen', 'nope'], {}), (e: unknown) => e instanceof BadConfigError && /--http-listen/.test(e.message));
    assert.throws(() => parseRouterConfig(['--wire-dtype', 'int8'], {}), /--wire-dtype/);
    assert.throws(() => parseRouterConfig(['--frobnicate'], {}), /unknown flag --frobnicate/);
    assert.throws(() => parseRouterConfig(['extra'], {}), /unexpected argument/);
  });
});
