/**
 * The Discovery contract (test/unit/dht/discovery-contract.ts) against the real thing: discovery
 * over a libp2p DHT on loopback, each host a real node with the real announcer.
 */
import { createDiscovery } from '../../../shared/dht/discovery.ts';
import { createAnnouncer, type Announcer } from '../../../shared/dht/announcer.ts';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { silentLogger } from '../../../shared/log.ts';
import { discoveryContract, type ContractHost } from '../../unit/dht/discovery-contract.ts';
import { startSwarm, stopAll } from './swarm-helpers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

discoveryContract('libp2p DHT', async () => {
  // A bootstrap node, two plain DHT nodes, and the node the discovery runs on.
  const nodes: SwarmNode[] = await startSwarm(4);
  const announcers: Announcer[] = [];
  const discovery = createDiscovery({ allowPrivateAddresses: true }, { node: nodes[3], log: silentLogger });
  return {
    discovery,
    async addHost(fields, ttlS) {
      const node = await createSwarmNode({ bootstrap: nodes[0].multiaddrs(), log: silentLogger });
      nodes.push(node);
      await node.start();
      const record = {
        ...fields, version: 'test', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 1, auto: false,
      };
      const ann = createAnnouncer({ ttlS, record }, { node, log: silentLogger });
      announcers.push(ann);
      await ann.start();
      const host: ContractHost = {
        peerId: node.peerId,
        update: (f) => ann.update(f),
        goOffline: () => ann.goOffline(),
        async lapse() {
          await ann.stop();
          const expiresAt = ann.current()?.expiresAt ?? 0;
          await waitFor('the last record to expire', () => Date.now() > expiresAt, { timeoutMs: ttlS * 1000 + 5_000 });
        },
      };
      return host;
    },
    async close() {
      await Promise.all(announcers.map((a) => a.stop()));
      await stopAll(nodes);
    },
  };
}, { ttlS: 4 });
