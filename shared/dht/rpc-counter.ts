/**
 * Counts the control-plane messages a node sends: every outbound libp2p protocol stream (kad-dht
 * requests, pings, identify), by protocol, plus whatever else the caller adds (Info calls). libp2p
 * takes it as its `metrics` component (countingMetrics below), which sees each negotiated stream
 * once; everything else of the Metrics interface is a no-op. The scale benchmark and the
 * control-plane tests read it; nothing in it can fail a call.
 */
import type { Metrics, Stream } from '@libp2p/interface';

export interface RpcCounter {
  /** Adds one message of `kind` (a protocol id, or a name such as `grpc/Info`). */
  add(kind: string, n?: number): void;
  /** Messages counted so far, by kind. */
  counts(): ReadonlyMap<string, number>;
  /** Sum of every kind. */
  total(): number;
}

export function createRpcCounter(): RpcCounter {
  const byKind = new Map<string, number>();
  let sum = 0;
  return {
    add(kind, n = 1) {
      byKind.set(kind, (byKind.get(kind) ?? 0) + n);
      sum += n;
    },
    counts: () => byKind,
    total: () => sum,
  };
}

const noop = (): void => {};
const metric = { update: noop, increment: noop, decrement: noop, reset: noop, timer: () => noop, observe: noop };

/** A libp2p Metrics component that counts outbound protocol streams into `counter` and records nothing else. */
export function countingMetrics(counter: RpcCounter): Metrics {
  const register = (_name: string, options?: unknown) => (typeof options === 'object' && options !== null && 'calculate' in options ? undefined : metric);
  return {
    trackMultiaddrConnection: noop,
    trackProtocolStream(stream: Stream) {
      if (stream.direction === 'outbound') counter.add(stream.protocol);
    },
    registerMetric: register,
    registerMetricGroup: register,
    registerCounter: register,
    registerCounterGroup: register,
    registerHistogram: register,
    registerHistogramGroup: register,
    registerSummary: register,
    registerSummaryGroup: register,
    createTrace: () => undefined,
    traceFunction: <F>(_name: string, fn: F): F => fn,
  } as Metrics;
}
