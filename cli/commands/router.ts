/**
 * `swarmpath router --model DIR [--bootstrap MA]… [--http-listen H:P] [--api-key K]…`: the
 * OpenAI-compatible inference API (router/). Wires the real components (onnxruntime stem and head,
 * libp2p DHT discovery, gRPC expert clients), prints the ready event, and on SIGTERM/SIGINT drains
 * in-flight requests and resolves 0.
 */
import { helpText } from '../../shared/cli-args.ts';
import { createLogger, emitEvent } from '../../shared/log.ts';
import { createExpertClient } from '../../shared/grpc/client.ts';
import { createSwarmNode } from '../../shared/dht/node.ts';
import { connectionLimitsFor } from '../../shared/dht/connection-trim.ts';
import type { SwarmNode } from '../../shared/dht/node.ts';
import { createDiscovery } from '../../shared/dht/discovery.ts';
import { loadPackage } from '../../shared/model/package.ts';
import { setupTelemetry } from '../../shared/telemetry/setup.ts';
import { ROUTER_FLAGS, ROUTER_USAGE, parseRouterConfig } from '../../router/config.ts';
import { openModelRuntime } from '../../router/model-runtime.ts';
import { startRouter } from '../../router/router-service.ts';
import { randomUUID } from 'node:crypto';

export async function run(argv: string[]): Promise<number> {
  const config = parseRouterConfig(argv);
  if (config.help) {
    process.stdout.write(helpText(ROUTER_USAGE, ROUTER_FLAGS));
    return 0;
  }
  const log = createLogger('router');
  const telemetry = await setupTelemetry({ serviceName: 'swarmpath-router', instanceId: randomUUID(), log });
  const nodes = new Map<string, SwarmNode>();
  const router = await startRouter(config, {
    log,
    loadPackage: (dir) => loadPackage(dir),
    openRuntime: (pkg) => openModelRuntime({ pkg, threads: config.threads, maxBatchRows: config.maxBatch, log }),
    createNode: async (init) => {
      const node = await createSwarmNode({
        listen: [...init.listen], bootstrap: [...init.bootstrap], keyFile: init.keyFile, clientMode: true, log: log.child('dht'),
        connectionLimits: connectionLimitsFor(init.maxConnections),
      });
      nodes.set(node.peerId, node);
      return node;
    },
    createDiscovery: (node) => {
      const dhtNode = nodes.get(node.peerId) as SwarmNode;
      const discovery = createDiscovery({ allowPrivateAddresses: config.allowPrivateAddresses }, { node: dhtNode, log: log.child('discovery') });
      // Another router joining through this one learns the records it knows.
      dhtNode.shareRecords(() => discovery.knownValues());
      return discovery;
    },
    connect: (address) => createExpertClient(address),
    metrics: telemetry.metrics,
  });
  emitEvent('ready', { role: 'router', peerId: router.peerId, multiaddrs: router.multiaddrs, http: router.http, model: router.model });
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info(`${signal}: draining in-flight requests`);
  await router.stop();
  await telemetry.shutdown(2000);
  // libp2p and grpc-js may leave timers behind; a drained router must not linger for them.
  setTimeout(() => process.exit(0), 500).unref();
  return 0;
}
