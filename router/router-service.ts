/**
 * The router process's parts wired together, with an explicit lifecycle: load the package, open stem
 * and head, start a libp2p node (DHT client) and discovery, the replica pool and balancer, the
 * generator and the HTTP API with its dashboard (whose stats collector hears of host records,
 * probes, stage call outcomes and failovers from the parts that see them). `stop()` drains
 * in-flight requests, then stops everything in reverse.
 */
import type { Logger } from '../shared/log.ts';
import type { ModelPackage } from '../shared/runtime-types.ts';
import type { Discovery, ExpertClient } from '../shared/transport-types.ts';
import type { MetricsRegistry } from '../shared/telemetry/metric-types.ts';
import { routerMetrics } from '../shared/telemetry/router-metrics.ts';
import type { RouterConfig } from './config.ts';
import { observedPool } from './dashboard/observed-pool.ts';
import { recordingDiscovery } from './dashboard/recording-discovery.ts';
import { createStatsCollector } from './dashboard/stats-collector.ts';
import { createGenerator } from './generation.ts';
import { createRouterApi } from './http/server.ts';
import { ReplicaBalancer } from './replica-balancer.ts';
import { createReplicaPool } from './replica-pool.ts';
import { createProbeVerifier } from '../shared/model/probe-verifier.ts';
import type { RouterRuntime } from './runtime.ts';

/** The DHT node as the router uses it. */
export interface RouterNode {
  readonly peerId: string;
  multiaddrs(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RouterComponents {
  log: Logger;
  loadPackage(dir: string): Promise<ModelPackage>;
  openRuntime(pkg: ModelPackage): Promise<RouterRuntime>;
  createNode(init: { listen: readonly string[]; bootstrap: readonly string[]; keyFile?: string; maxConnections: number }): Promise<RouterNode>;
  createDiscovery(node: RouterNode): Discovery;
  connect(address: string): ExpertClient;
  /** The registry behind GET /metrics. */
  metrics: MetricsRegistry;
}

export interface RunningRouter {
  readonly peerId: string;
  readonly multiaddrs: string[];
  /** Base URL of the HTTP API. */
  readonly http: string;
  readonly model: string;
  /** Drains (up to the configured grace), then stops HTTP, clients, node and runtime. Idempotent. */
  stop(): Promise<void>;
}

export async function startRouter(config: RouterConfig, c: RouterComponents): Promise<RunningRouter> {
  const log = c.log;
  const pkg = await c.loadPackage(config.model);
  const runtime = await c.openRuntime(pkg);
  if (config.bootstrap.length === 0) log.warn('no --bootstrap (or SWARMPATH_BOOTSTRAP) given: this router knows no DHT peer and will find no hosts');
  const node = await c.createNode({ listen: config.listen, bootstrap: config.bootstrap, keyFile: config.keyFile, maxConnections: config.dhtMaxConnections });
  await node.start();
  const metrics = routerMetrics(c.metrics);
  const stats = createStatsCollector({}, { clock: Date.now });
  const balancer = new ReplicaBalancer();
  const pool = observedPool(createReplicaPool({
    model: pkg.manifest.name, noReplicaWaitMs: config.noReplicaWaitMs, cacheTtlMs: config.discoveryCacheMs,
    verifyEveryMs: config.verifyEveryMs, distrustMs: config.distrustMs,
    // Cross-checks of real steps are part of verifying hosts (--no-verify-hosts trusts them).
    ...(config.verifyHosts ? { spotCheck: { fraction: config.spotCheck, wireDtype: config.wireDtype }, checkIdentity: true } : {}),
  }, {
    onCrossCheck: (expert, result) => metrics.crossChecks.inc({ expert, result }),
    onDistrustedHost: () => metrics.distrustedHosts.inc({}),
    discovery: recordingDiscovery(c.createDiscovery(node), (recs) => stats.hostsSeen(recs)), balancer, connect: c.connect, log: log.child('replicas'),
    onLiveReplicas: (expert, n) => metrics.liveReplicas.set({ expert }, n),
    ...(config.verifyHosts ? {
      verify: createProbeVerifier(pkg),
      onVerified: (expert: string, peer: string, result: 'ok' | 'mismatch' | 'error') => {
        metrics.hostProbes.inc({ expert, result });
        stats.probed(expert, peer, result);
      },
    } : {}),
  }), (expert, peer, errorCode) => stats.called(expert, peer, errorCode));
  pool.warm(pkg.manifest.levels.flatMap((l) => l.experts.map((e) => e.id)));
  const generator = createGenerator({ stepTimeoutMs: config.stepTimeoutMs, wireDtype: config.wireDtype, chain: config.chain, rerouteEvery: config.rerouteEvery, prefillChunk: config.prefillChunk }, {
    runtime, pool, log: log.child('generation'),
    events: {
      onFailover: (expert, reason) => {
        metrics.failovers.inc({ expert, reason });
        stats.failover(expert, reason);
      },
      onRetry: (expert, reason) => metrics.retries.inc({ expert, reason }),
      onCall: (expert, kind, seconds) => metrics.stageDuration.observe({ expert, kind }, seconds),
    },
  });
  const api = createRouterApi({
    apiKeys: config.apiKeys, bodyLimitBytes: config.bodyLimitBytes, maxConcurrent: config.maxConcurrent,
    maxQueue: config.maxQueue, queueTimeoutMs: config.queueTimeoutMs, requestTimeoutMs: config.requestTimeoutMs,
    verifyingHosts: config.verifyHosts, ...config.httpEdge,
  }, { runtime, generator, pool, metrics, metricsText: () => c.metrics.text(), log: log.child('http'), stats });
  const http = await api.listen(config.httpHost, config.httpPort);
  log.info('router ready', { model: pkg.manifest.name, http, peerId: node.peerId, keys: config.apiKeys.length });
  let stopping: Promise<void> | undefined;
  return {
    peerId: node.peerId,
    multiaddrs: node.multiaddrs(),
    http,
    model: pkg.manifest.name,
    stop() {
      stopping ??= (async () => {
        await api.close(config.drainGraceMs);
        pool.close();
        await Promise.race([node.stop(), new Promise((r) => setTimeout(r, 5000).unref())]);
        await runtime.release();
      })();
      return stopping;
    },
  };
}
