import { test } from 'vitest';
import assert from 'node:assert/strict';
import { compareExpertIds, modelsByHosts, swarmListing } from '../../../shared/dht/listing.ts';
import { createFakeDiscovery } from '../../fakes/discovery.ts';

const fake = createFakeDiscovery();
const h = (peerId: string, model: string, experts: string[], queueDepth = 0) => fake.host({ peerId, model, experts, queueDepth, grpc: `${peerId}:1` });

test('groups replicas by expert, in natural expert order, with load = queue depth', () => {
  const l = swarmListing([h('b', 'm', ['L0.10', 'L1.0'], 3), h('a', 'm', ['L0.2', 'L1.0']), h('x', 'other', ['L0.2'])], 'm');
  assert.equal(l.model, 'm');
  assert.deepEqual(Object.keys(l.experts), ['L0.2', 'L0.10', 'L1.0']);
  assert.deepEqual(l.experts['L1.0'].map((r) => r.peerId), ['a', 'b']);
  assert.deepEqual(l.experts['L0.2'].map((r) => r.grpc), ['a:1']);
  assert.equal(l.experts['L0.10'][0].load, 3);
  assert.deepEqual(Object.keys(l.experts['L0.2'][0]).sort(),
    ['auto', 'device', 'expiresAt', 'grpc', 'kvCapacityBytes', 'kvFreeBytes', 'load', 'peerId', 'state', 'throughput', 'version']);
});

test("lists the manifest's experts that have no host, and never a host twice under one expert", () => {
  const l = swarmListing([h('a', 'm', ['L0.0', 'L0.0'])], 'm', ['L0.0', 'L0.1', 'L1.0']);
  assert.deepEqual(l.experts, { 'L0.0': l.experts['L0.0'], 'L0.1': [], 'L1.0': [] });
  assert.equal(l.experts['L0.0'].length, 1);
});

test('models are ordered by host count, then name; expert ids compare naturally', () => {
  assert.deepEqual(modelsByHosts([h('a', 'z', []), h('b', 'z', []), h('c', 'y', []), h('d', 'x', [])]), ['z', 'x', 'y']);
  assert.deepEqual(['L1.0', 'L0.10', 'custom', 'L0.2'].sort(compareExpertIds), ['L0.2', 'L0.10', 'L1.0', 'custom']);
});
