/** The in-memory Discovery fake passes the same contract as the DHT discovery. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createFakeDiscovery } from '../../fakes/discovery.ts';
import { discoveryContract, type ContractHost } from './discovery-contract.ts';

let next = 0;
discoveryContract('in-memory fake', async () => {
  const fake = createFakeDiscovery();
  return {
    discovery: fake,
    async addHost(fields, ttlS) {
      const peerId = `fake-peer-${++next}`;
      let current = fake.host({ peerId, ...fields, expiresAt: fake.now() + ttlS * 1000 });
      fake.publish(current);
      const republish = (over: Partial<typeof current>) => {
        current = { ...current, ...over, seq: current.seq + 1, expiresAt: fake.now() + ttlS * 1000 };
        fake.publish(current);
      };
      const host: ContractHost = {
        peerId,
        async update(f) { republish(f); },
        async goOffline() { republish({ state: 'OFFLINE' }); },
        async lapse() { fake.advance(current.expiresAt - fake.now() + 1); },
      };
      return host;
    },
    async close() {},
  };
}, { ttlS: 3 });

test('fake: a lower seq never replaces a higher one; remove() forgets a peer', async () => {
  const fake = createFakeDiscovery();
  fake.publish(fake.host({ peerId: 'p', experts: ['L0.0'], seq: 5, grpc: 'new:1' }));
  fake.publish(fake.host({ peerId: 'p', experts: ['L0.0'], seq: 4, grpc: 'old:1' }));
  assert.deepEqual((await fake.replicas('tiny', 'L0.0')).map((r) => r.grpc), ['new:1']);
  fake.remove('p');
  assert.deepEqual(await fake.allHosts(), []);
  assert.equal(fake.lookups, 2);
});
