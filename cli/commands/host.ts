/**
 * `swarmpath host`: serves experts to the swarm (expert-host/). Wires the real components (model
 * runtime, DHT, gRPC), prints the ready event, and on SIGTERM/SIGINT drains and resolves 0.
 */
import { helpText } from '../../shared/cli-args.ts';
import { createExpertClient } from '../../shared/grpc/client.ts';
import { createLogger, emitEvent } from '../../shared/log.ts';
import { HOST_FLAGS, HOST_USAGE, parseHostConfig, type HostConfig } from '../../expert-host/config.ts';
import { startHost, type HostComponents } from '../../expert-host/host.ts';
import { setupTelemetry } from '../../shared/telemetry/setup.ts';
import { hostMetrics } from '../../shared/telemetry/host-metrics.ts';
import { hostRecorder } from '../../shared/telemetry/host-recorder.ts';
import { startMetricsServer } from '../../shared/telemetry/metrics-server.ts';
import { connectionLimitsFor } from '../../shared/dht/connection-trim.ts';

/** What the host's metrics read of its DHT node. */
interface NetworkFigures { connections(): number; trimmed(): number }

/** The production components of a host; `onNode` learns the DHT node once it is made (metrics). */
export async function realHostComponents(config: HostConfig, onNode: (n: NetworkFigures) => void = () => {}): Promise<HostComponents> {
  const log = createLogger('host');
  const pkgMod = await import('../../shared/model/package.ts');
  const ortMod = await import('../../shared/model/ort.ts');
  const probeMod = await import('../../shared/model/probe.ts');
  const c: HostComponents = {
    log,
    loadPackage: (dir) => pkgMod.loadPackage(dir),
    packageOf: pkgMod.packageOf,
    verifyFile: pkgMod.verifyFile,
    // Every expert a host opens (at start or when it migrates) must reproduce its manifest probe.
    async openExpert(pkg, id, o) {
      const model = await ortMod.openExpert(pkg, id, o);
      try {
        await probeMod.assertProbe(model, pkg.expert(id).probe, pkg.manifest.dims);
      } catch (err) {
        await model.release();
        throw err;
      }
      return model;
    },
    connect: (address) => createExpertClient(address),
    emit: emitEvent,
  };
  if (config.dht) {
    const nodeMod = await import('../../shared/dht/node.ts');
    const annMod = await import('../../shared/dht/announcer.ts');
    const discMod = await import('../../shared/dht/discovery.ts');
    const nodes = new Map<string, Awaited<ReturnType<typeof nodeMod.createSwarmNode>>>();
    c.createNode = async (cfg) => {
      const node = await nodeMod.createSwarmNode({
        listen: [...cfg.listen], bootstrap: [...cfg.bootstrap], keyFile: cfg.keyFile, log: log.child('dht'),
        connectionLimits: connectionLimitsFor(cfg.dhtMaxConnections),
      });
      nodes.set(node.peerId, node);
      onNode({ connections: () => node.libp2p.getConnections().length, trimmed: () => node.connectionsTrimmed() });
      return {
        peerId: node.peerId, multiaddrs: () => node.multiaddrs(), start: () => node.start(), stop: () => node.stop(),
        sign: async (d: Uint8Array) => node.privateKey.sign(d),
      };
    };
    c.createAnnouncer = (node, record, ttlS) => annMod.createAnnouncer({ ttlS, record }, { node: nodes.get(node.peerId)!, log: log.child('announce') });
    c.createDiscovery = (node) => {
      const dhtNode = nodes.get(node.peerId)!;
      const discovery = discMod.createDiscovery({ allowPrivateAddresses: config.allowPrivateAddresses }, { node: dhtNode, log: log.child('discovery') });
      // Peers asking for the records this host knows (a joining router) get its rebalancing view's.
      dhtNode.shareRecords(() => discovery.knownValues());
      return discovery;
    };
  }
  return c;
}

export async function run(argv: string[]): Promise<number> {
  const config = parseHostConfig(argv);
  if (config.help) {
    process.stdout.write(helpText(HOST_USAGE, HOST_FLAGS));
    return 0;
  }
  let network: NetworkFigures | undefined;
  const components = await realHostComponents(config, (n) => { network = n; });
  // Telemetry: tracing from OTEL_* (off unless configured), metrics for --metrics-listen. The
  // instance id is the peer id, known once the host started; exports wait for it.
  let setInstance: (id: string) => void = () => {};
  const telemetry = await setupTelemetry({ serviceName: 'swarmpath-host', instanceId: new Promise<string>((r) => { setInstance = r; }), log: components.log });
  const recorder = hostRecorder(hostMetrics(telemetry.metrics));
  const onBatch = components.onBatch;
  components.onBatch = (b) => { recorder.onBatch(b); onBatch?.(b); };
  components.onRpc = (m, code) => recorder.onRpc(m, code);
  // Signal handlers first: a SIGTERM during start-up (or right after the ready event) must drain too.
  let signalled: string | undefined;
  let wake = () => {};
  const signal = new Promise<void>((r) => { wake = r; });
  const onSignal = (sig: string) => {
    if (signalled) { components.log.warn(`${sig}: already draining`); return; }
    signalled = sig;
    wake();
  };
  const onTerm = () => onSignal('SIGTERM');
  const onInt = () => onSignal('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  let host;
  try {
    host = await startHost(config, components);
  } catch (err) {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    setInstance('unknown');
    await telemetry.shutdown(1000);
    throw err;
  }
  setInstance(host.peerId || host.grpc);
  const sampleTimer = setInterval(() => {
    recorder.sample(host.core.info());
    if (network) recorder.sampleNetwork({ connections: network.connections(), trimmed: network.trimmed() });
    recorder.sampleConnections(host.connections());
  }, 1000);
  sampleTimer.unref();
  const metricsServer = config.metricsListen
    ? await startMetricsServer({ ...config.metricsListen, registry: telemetry.metrics, log: components.log })
    : undefined;
  if (!signalled) emitEvent('ready', { role: 'host', peerId: host.peerId, multiaddrs: host.multiaddrs, grpc: host.grpc, experts: host.experts, device: host.core.info().device, ...(metricsServer ? { metrics: metricsServer.url } : {}) });
  await signal;
  components.log.info(`${signalled}: draining`);
  await host.stop().catch((err) => components.log.error('stop failed', { error: err }));
  clearInterval(sampleTimer);
  await metricsServer?.stop();
  await telemetry.shutdown(2000);
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  // Whatever a library leaves open must not keep a drained host alive.
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
