/**
 * An expert host's metrics: what `--metrics-listen` serves. Labels are expert ids of the served
 * model, gRPC method names and status names: small fixed sets.
 */
import type { Counter, Gauge, Histogram, MetricsRegistry } from './metric-types.ts';
import { LATENCY_BUCKETS_S, SIZE_BUCKETS } from './metric-types.ts';

export interface HostMetrics {
  /** gRPC calls answered, by method (`Forward`, `Session`, `Info`, `FetchShard`) and status name (`OK`, `UNAVAILABLE`). */
  readonly rpcs: Counter<'method' | 'code'>;
  /** Steps run by onnxruntime, by expert and kind (`prefill`, `decode`, `forward`). */
  readonly steps: Counter<'expert' | 'kind'>;
  /** Token positions processed, by expert. */
  readonly tokens: Counter<'expert'>;
  /** Seconds of one batched onnxruntime run, by expert. */
  readonly stepDuration: Histogram<'expert'>;
  /** Sessions' steps merged into one onnxruntime run, by expert. */
  readonly batchSize: Histogram<'expert'>;
  /** Steps waiting or running now, over all served experts. */
  readonly queueDepth: Gauge;
  /** Open generation sessions, by expert. */
  readonly activeSessions: Gauge<'expert'>;
  /** KV cache bytes reserved by open sessions. */
  readonly kvUsedBytes: Gauge;
  /** KV cache capacity (--kv-cache-mb), bytes. */
  readonly kvCapacityBytes: Gauge;
  /** Requests refused because the KV cache or the queue was full, by expert. */
  readonly rejected: Counter<'expert' | 'reason'>;
  /** libp2p connections the host's DHT node holds now. */
  readonly libp2pConnections: Gauge;
  /** libp2p connections it closed to stay within --dht-max-connections, and duplicates (shared/dht/connection-trim.ts). */
  readonly libp2pTrimmed: Counter;
  /** gRPC (TCP) connections open to the host now. */
  readonly grpcConnections: Gauge;
  /** gRPC connections closed on accept, past --peer-max-connections or --max-connections. */
  readonly grpcConnectionsRefused: Counter;
}

/** Registers the host's instruments in `reg` (once per registry). */
export function hostMetrics(reg: MetricsRegistry): HostMetrics {
  return Object.freeze({
    rpcs: reg.counter<'method' | 'code'>('swarmpath_host_rpcs_total', 'gRPC calls answered, by method and status'),
    steps: reg.counter<'expert' | 'kind'>('swarmpath_host_steps_total', 'Expert steps run, by kind'),
    tokens: reg.counter<'expert'>('swarmpath_host_tokens_total', 'Token positions processed'),
    stepDuration: reg.histogram<'expert'>('swarmpath_host_step_duration_seconds', 'One batched onnxruntime run', LATENCY_BUCKETS_S),
    batchSize: reg.histogram<'expert'>('swarmpath_host_batch_size', 'Session steps merged into one run', SIZE_BUCKETS),
    queueDepth: reg.gauge('swarmpath_host_queue_depth', 'Steps waiting or running'),
    activeSessions: reg.gauge<'expert'>('swarmpath_host_active_sessions', 'Open generation sessions'),
    kvUsedBytes: reg.gauge('swarmpath_host_kv_used_bytes', 'KV cache bytes reserved by open sessions'),
    kvCapacityBytes: reg.gauge('swarmpath_host_kv_capacity_bytes', 'KV cache capacity'),
    rejected: reg.counter<'expert' | 'reason'>('swarmpath_host_rejected_total', 'Requests refused (KV full, queue full, draining)'),
    libp2pConnections: reg.gauge('swarmpath_host_libp2p_connections', 'libp2p connections of the DHT node'),
    libp2pTrimmed: reg.counter('swarmpath_host_libp2p_connections_trimmed_total', 'libp2p connections closed to stay within --dht-max-connections, and duplicates'),
    grpcConnections: reg.gauge('swarmpath_host_grpc_connections', 'gRPC (TCP) connections open to the host'),
    grpcConnectionsRefused: reg.counter('swarmpath_host_grpc_connections_refused_total', 'gRPC connections closed on accept, past --peer-max-connections or --max-connections'),
  });
}
