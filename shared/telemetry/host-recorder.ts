/**
 * Feeds a host's metrics from what the host already reports: each batched onnxruntime run
 * (`onBatch`, the host core's hook) and a periodic look at its Info (`sample`). Structural types
 * only, so that this file depends on no host code.
 */
import type { HostInfo } from '../transport-types.ts';
import { GrpcStatus } from '../errors.ts';
import type { HostMetrics } from './host-metrics.ts';

/** gRPC status number → name (`0` → `OK`). */
const STATUS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(GrpcStatus).map(([k, v]) => [v, k]));

/** One batched run as the host's step batcher reports it. */
export interface BatchRun {
  expertId: string;
  /** Calls (session steps or Forward calls) merged. */
  items: number;
  /** Rows of the batch. */
  rows: number;
  /** New positions per row (1 for decode). */
  T: number;
  /** Seconds onnxruntime took. */
  seconds: number;
}

export interface HostRecorder {
  onBatch(b: BatchRun): void;
  /** One gRPC call answered (`Session`: one stream opened) with status `code`. */
  onRpc(method: string, code: number): void;
  /** Sets the gauges from the host's Info: queue depth, open sessions, KV cache use. */
  sample(info: Pick<HostInfo, 'queueDepth' | 'experts' | 'kvCapacityBytes' | 'kvFreeBytes'>): void;
  /** Sets the libp2p figures: connections held now, and connections trimmed since the node started (a running total). */
  sampleNetwork(n: { connections: number; trimmed: number }): void;
  /** Sets the gRPC figures: connections open now, and connections refused since the host started (a running total). */
  sampleConnections(c: { open: number; refused: number }): void;
}

export function hostRecorder(m: HostMetrics): HostRecorder {
  let trimmedSeen = 0;
  let refusedSeen = 0;
  return {
    onBatch(b) {
      const expert = b.expertId;
      m.steps.inc({ expert, kind: b.T > 1 ? 'prefill' : 'decode' }, b.items);
      m.tokens.inc({ expert }, b.rows * b.T);
      m.stepDuration.observe({ expert }, b.seconds);
      m.batchSize.observe({ expert }, b.items);
    },
    onRpc(method, code) {
      m.rpcs.inc({ method, code: STATUS_NAMES[code] ?? String(code) });
    },
    sample(info) {
      m.queueDepth.set({}, info.queueDepth);
      for (const e of info.experts) m.activeSessions.set({ expert: e.expertId }, e.activeSessions);
      m.kvCapacityBytes.set({}, info.kvCapacityBytes);
      m.kvUsedBytes.set({}, info.kvCapacityBytes - info.kvFreeBytes);
    },
    sampleNetwork(n) {
      m.libp2pConnections.set({}, n.connections);
      if (n.trimmed > trimmedSeen) m.libp2pTrimmed.inc({}, n.trimmed - trimmedSeen);
      trimmedSeen = Math.max(trimmedSeen, n.trimmed);
    },
    sampleConnections(c) {
      m.grpcConnections.set({}, c.open);
      if (c.refused > refusedSeen) m.grpcConnectionsRefused.inc({}, c.refused - refusedSeen);
      refusedSeen = Math.max(refusedSeen, c.refused);
    },
  };
}
