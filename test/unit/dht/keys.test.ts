import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  DHT_PROTOCOL, SWARM_HOSTS_CIDS, SWARM_HOST_BUCKETS, expertCid, hostBucket, hostRecordKey, nameCid,
  peerIdOfHostRecordKey, swarmHostsCid,
} from '../../../shared/dht/keys.ts';

test('expert CIDs are deterministic, raw sha2-256 CIDv1, distinct per model and expert', () => {
  const a = expertCid('tiny', 'L0.1');
  assert.equal(a.toString(), expertCid('tiny', 'L0.1').toString());
  assert.equal(a.version, 1);
  assert.equal(a.code, 0x55);
  assert.equal(a.multihash.code, 0x12);
  assert.equal(a.toString(), nameCid('swarmpath/expert/tiny/L0.1').toString());
  const all = new Set([a, expertCid('tiny', 'L0.2'), expertCid('other', 'L0.1'), ...SWARM_HOSTS_CIDS].map(String));
  assert.equal(all.size, 3 + SWARM_HOST_BUCKETS);
});

test('host buckets are in range, stable, and spread peers out', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const b = hostBucket(`peer-${i}`);
    assert.ok(Number.isInteger(b) && b >= 0 && b < SWARM_HOST_BUCKETS);
    assert.equal(b, hostBucket(`peer-${i}`));
    assert.equal(swarmHostsCid(`peer-${i}`).toString(), SWARM_HOSTS_CIDS[b].toString());
    seen.add(b);
  }
  assert.equal(seen.size, SWARM_HOST_BUCKETS);
});

test('host record keys round-trip and reject other keys', () => {
  assert.equal(new TextDecoder().decode(hostRecordKey('12D3KooWabc')), '/swarmpath-host/12D3KooWabc');
  assert.equal(peerIdOfHostRecordKey(hostRecordKey('12D3KooWabc')), '12D3KooWabc');
  for (const k of ['/pk/12D3KooWabc', '/swarmpath-host/', '/swarmpath-host/a/b', 'swarmpath-host/x']) {
    assert.equal(peerIdOfHostRecordKey(new TextEncoder().encode(k)), undefined, k);
  }
  assert.equal(DHT_PROTOCOL, '/swarmpath/kad/1.0.0');
});
