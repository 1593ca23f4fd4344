import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { parseHostConfig } from '../../../expert-host/config.ts';
import { hostServerOptions } from '../../../expert-host/host-limits.ts';

const base = ['--model', 'm', '--expert', 'L0.0'];
const MiB = 1024 * 1024;

test('per-peer limits have defaults that bound one peer', () => {
  const c = parseHostConfig(base, {});
  assert.equal(c.peerKvShare, 0.25);
  assert.equal(c.openIdleMs, 20_000);
  assert.equal(c.maxQueue, 512);
  assert.deepEqual(c.limits.ledger, {
    connections: { perPeer: 64, total: 2048 },
    streams: { perPeer: 256, total: 2048 }, forwards: { perPeer: 8, total: 64 },
    fetches: { perPeer: 2, total: 8 }, inflightBytes: { perPeer: 128 * MiB, total: 512 * MiB },
  });
  assert.deepEqual(c.limits.session, { maxStepsInFlight: 8, openTimeoutMs: 20_000 });
  assert.equal(c.limits.infoPerS, 20);
  assert.ok(Object.isFrozen(c.limits) && Object.isFrozen(c.limits.ledger.streams));
});

test('flags set them; the open idle time never exceeds the session idle time', () => {
  const c = parseHostConfig([...base, '--peer-kv-share', '0.5', '--peer-max-sessions', '3', '--max-sessions', '9', '--open-idle-s', '30',
    '--session-idle-s', '10', '--max-steps-in-flight', '2', '--peer-max-forward', '1', '--max-fetch', '1', '--max-message-mb', '1', '--peer-inflight-mb', '1',
    '--peer-max-connections', '4', '--max-connections', '10', '--peer-info-rate', '0.5'], {});
  assert.deepEqual(c.limits.ledger.connections, { perPeer: 4, total: 10 });
  assert.equal(c.limits.infoPerS, 0.5);
  assert.equal(c.peerKvShare, 0.5);
  assert.equal(c.openIdleMs, 10_000);
  assert.deepEqual(c.limits.ledger.streams, { perPeer: 3, total: 9 });
  assert.equal(c.limits.ledger.forwards.perPeer, 1);
  assert.equal(c.limits.ledger.fetches.total, 1);
  assert.equal(c.limits.ledger.inflightBytes.perPeer, MiB);
  assert.equal(c.limits.session.maxStepsInFlight, 2);
});

test('bad limits fail fast, naming the flag', () => {
  const bad = (re: RegExp) => (e: unknown) => e instanceof SwarmpathError && e.code === 'BAD_CONFIG' && re.test(e.message);
  assert.throws(() => parseHostConfig([...base, '--peer-kv-share', '1.5'], {}), bad(/--peer-kv-share must be in \[0.01, 1\]/));
  assert.throws(() => parseHostConfig([...base, '--peer-max-sessions', '0'], {}), bad(/--peer-max-sessions/));
  assert.throws(() => parseHostConfig([...base, '--peer-max-connections', '0'], {}), bad(/--peer-max-connections/));
  assert.throws(() => parseHostConfig([...base, '--peer-info-rate', '0'], {}), bad(/--peer-info-rate/));
  assert.throws(() => parseHostConfig([...base, '--peer-inflight-mb', '8'], {}), bad(/--peer-inflight-mb \(8\) must be at least --max-message-mb \(64\)/));
});

test('server options: streams per connection follow the per-peer limits; keepalive and connection age are set', () => {
  const o = hostServerOptions(parseHostConfig(base, {}).limits.ledger);
  assert.equal(o['grpc.max_concurrent_streams'], 256 + 8 + 2 + 16);
  assert.equal(o['grpc.keepalive_time_ms'], 120_000);
  assert.equal(o['grpc.keepalive_timeout_ms'], 20_000);
  assert.equal(o['grpc.max_connection_idle_ms'], 300_000);
  assert.equal(o['grpc.max_connection_age_ms'], 3_600_000);
  assert.equal(o['grpc.max_connection_age_grace_ms'], 600_000);
});
