/**
 * A stand-in expert host for the DHT integration tests: a real libp2p node and the real announcer,
 * announcing a made-up gRPC address (nothing listens there). On SIGTERM it goes OFFLINE and exits 0,
 * as the real host does. Usage:
 *   node test/integration/dht/fake-host.ts --bootstrap MA --model M --expert ID… --grpc H:P [--record-ttl S]
 */
import { parseFlags } from '../../../shared/cli-args.ts';
import { createLogger, emitEvent } from '../../../shared/log.ts';
import { createSwarmNode } from '../../../shared/dht/node.ts';
import { createAnnouncer } from '../../../shared/dht/announcer.ts';

const { flags } = parseFlags(process.argv.slice(2), {
  bootstrap: { kind: 'list', help: 'bootstrap multiaddr' },
  model: { kind: 'string', help: 'model name', default: 'tiny' },
  expert: { kind: 'list', help: 'expert id' },
  grpc: { kind: 'string', help: 'made-up gRPC address', default: '127.0.0.1:1' },
  'record-ttl': { kind: 'number', help: 'record TTL, s', default: 3 },
});
const log = createLogger(`fake-host ${flags.grpc}`);
const node = await createSwarmNode({ bootstrap: (flags.bootstrap as string[]) ?? [], log });
await node.start();
const announcer = createAnnouncer({
  ttlS: flags['record-ttl'] as number,
  record: {
    model: flags.model as string, experts: (flags.expert as string[]) ?? [], grpc: flags.grpc as string,
    version: 'fake', device: 'cpu', kvCapacityBytes: 1 << 20, kvFreeBytes: 1 << 20, queueDepth: 0, throughput: 1, auto: false,
  },
}, { node, log });
await announcer.start();
process.once('SIGTERM', async () => {
  await announcer.goOffline();
  await announcer.stop();
  await node.stop();
  process.exit(0);
});
emitEvent('ready', { role: 'host', peerId: node.peerId, multiaddrs: node.multiaddrs(), grpc: flags.grpc, experts: flags.expert ?? [] });
