import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { parseHostConfig } from '../../../expert-host/config.ts';

const bad = (re: RegExp) => (e: unknown) => e instanceof SwarmpathError && e.code === 'BAD_CONFIG' && re.test(e.message);

test('defaults', () => {
  const c = parseHostConfig(['--model', 'm', '--expert', 'L0.1'], {});
  assert.deepEqual(c.experts, ['L0.1']);
  assert.equal(c.grpcHost, '127.0.0.1');
  assert.equal(c.grpcPort, 0);
  assert.equal(c.kvCacheBytes, 512 * 1024 * 1024);
  assert.equal(c.device, 'cpu');
  assert.equal(c.dht, true);
  assert.equal(c.auto, false);
  assert.equal(c.maxBatch, 16);
  assert.ok(Object.isFrozen(c));
});

test('--max-batch defaults by device and is kept when given', () => {
  const base = ['--model', 'm', '--expert', 'L0.1'];
  assert.equal(parseHostConfig([...base, '--device', 'cuda'], {}).maxBatch, 32);
  assert.equal(parseHostConfig([...base, '--device', 'cpu'], {}).maxBatch, 16);
  assert.equal(parseHostConfig([...base, '--device', 'cuda', '--max-batch', '8'], {}).maxBatch, 8);
  assert.throws(() => parseHostConfig([...base, '--max-batch', '0'], {}), bad(/max-batch/));
});

test('repeatable and comma-separated experts, env defaults', () => {
  const c = parseHostConfig(['--expert', 'L0.1,L1.0', '--expert', 'L0.1', '--kv-cache-mb', '1.5', '--grpc-listen', '0.0.0.0:5000'],
    { SWARMPATH_MODEL: '/m', SWARMPATH_BOOTSTRAP: '/ip4/1.2.3.4/tcp/1/p2p/x,/ip4/1.2.3.5/tcp/1/p2p/y' });
  assert.deepEqual(c.experts, ['L0.1', 'L1.0']);
  assert.equal(c.model, '/m');
  assert.equal(c.bootstrap.length, 2);
  assert.equal(c.kvCacheBytes, 1.5 * 1024 * 1024);
  assert.equal(c.grpcHost, '0.0.0.0');
  assert.equal(c.grpcPort, 5000);
});

test('bad flags fail fast, naming the flag', () => {
  assert.throws(() => parseHostConfig(['--expert', 'L0.0'], {}), bad(/--model/));
  assert.throws(() => parseHostConfig(['--model', 'm'], {}), bad(/--expert ID .* or --auto/));
  assert.throws(() => parseHostConfig(['--model', 'm', '--expert', 'zz'], {}), bad(/--expert must look like L0.3/));
  assert.throws(() => parseHostConfig(['--model', 'm', '--auto', '--device', 'tpu'], {}), bad(/--device must be one of cpu, cuda/));
  assert.throws(() => parseHostConfig(['--model', 'm', '--auto', '--grpc-listen', 'nope'], {}), bad(/--grpc-listen must be HOST:PORT/));
  assert.throws(() => parseHostConfig(['--model', 'm', '--auto', '--max-batch', '0'], {}), bad(/--max-batch/));
  assert.throws(() => parseHostConfig(['--model', 'm', '--auto', '--bogus'], {}), bad(/unknown flag --bogus/));
});

test('--dht-max-connections: 192 by default, at least 24', () => {
  const base = ['--model', 'm', '--expert', 'L0.1'];
  assert.equal(parseHostConfig(base, {}).dhtMaxConnections, 192);
  assert.equal(parseHostConfig([...base, '--dht-max-connections', '300'], {}).dhtMaxConnections, 300);
  assert.throws(() => parseHostConfig([...base, '--dht-max-connections', '10'], {}), bad(/--dht-max-connections/));
});

test('--auto and --no-dht', () => {
  const c = parseHostConfig(['--model', 'm', '--auto', '--no-dht'], {});
  assert.equal(c.auto, true);
  assert.equal(c.dht, false);
  assert.deepEqual(c.experts, []);
});

test('--dht is a boolean negated as --no-dht (no flag named "no-dht"); --record-ttl is bounded by the longest record TTL', () => {
  assert.equal(parseHostConfig(['--model', 'm', '--auto'], {}).dht, true);
  assert.equal(parseHostConfig(['--model', 'm', '--auto', '--dht=false'], {}).dht, false);
  assert.throws(() => parseHostConfig(['--model', 'm', '--auto', '--no-no-dht'], {}), /unknown flag --no-no-dht/);
  assert.throws(() => parseHostConfig(['--model', 'm', '--auto', '--record-ttl', '7200'], {}), /--record-ttl must be in \[2, 3600\]/);
});
