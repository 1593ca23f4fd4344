import { test } from 'vitest';
import assert from 'node:assert/strict';
import { discoveryCache } from '../../../router/discovery-cache.ts';
import { UnavailableError } from '../../../shared/errors.ts';
import { silentLogger, type Logger } from '../../../shared/log.ts';
import type { Discovery, HostRecord } from '../../../shared/transport-types.ts';

const rec = (peerId: string): HostRecord => ({
  peerId, model: 'm', experts: ['E'], grpc: '127.0.0.1:1', state: 'ONLINE', version: 'v', device: 'cpu',
  kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: false, seq: 1, expiresAt: Number.MAX_SAFE_INTEGER,
});

test('a DHT that stops answering is said once at warn level, cached records serve meanwhile, and a success re-arms the warning', async () => {
  let answer: 'ok' | 'silent' = 'ok';
  const discovery: Discovery = {
    async replicas() {
      if (answer === 'silent') throw new UnavailableError('the provider search got no answer within 3000 ms');
      return [rec('h1')];
    },
    async allHosts() { return []; },
  };
  const lines: string[] = [];
  const log: Logger = { ...silentLogger, warn: (msg) => { lines.push(`warn ${msg}`); }, debug: (msg) => { lines.push(`debug ${msg}`); }, child: () => log };
  const cache = discoveryCache({ model: 'm', queryTimeoutMs: 5000 }, { discovery, clock: () => 0, log, onRecords: () => {}, maxAgeMs: () => 0 });
  assert.deepEqual((await cache.records('E', true)).map((r) => r.peerId), ['h1']);
  answer = 'silent';
  for (let i = 0; i < 3; i++) assert.deepEqual((await cache.records('E', true)).map((r) => r.peerId), ['h1'], 'the cached records');
  answer = 'ok';
  await cache.records('E', true);
  answer = 'silent';
  await cache.records('E', true);
  const failures = lines.filter((l) => l.endsWith('discovery failed; using cached replicas'));
  assert.deepEqual(failures, ['warn discovery failed; using cached replicas', 'debug discovery failed; using cached replicas',
    'debug discovery failed; using cached replicas', 'warn discovery failed; using cached replicas']);
});
