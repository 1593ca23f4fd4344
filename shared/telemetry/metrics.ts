/**
 * The metrics registry of one process: OpenTelemetry metric instruments behind a narrow typed
 * interface, readable as Prometheus text (router `GET /metrics`, host `--metrics-listen`) and, when
 * `OTEL_METRICS_EXPORTER=otlp`, pushed over OTLP by an extra reader that `setup.ts` hands in.
 * Every metric name starts with `swarmpath_`; units are in the names (`_seconds`, `_bytes`).
 *
 * The instrument sets that router and host record live in `router-metrics.ts` and `host-metrics.ts`;
 * both are re-exported here. Recording costs about a microsecond and never throws.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Attributes } from '@opentelemetry/api';
import type { Counter, Gauge, Histogram, MetricsRegistry } from './metric-types.ts';
import type { Resource } from '@opentelemetry/resources';

export type { Counter, Gauge, Histogram, MetricsRegistry } from './metric-types.ts';
export { LATENCY_BUCKETS_S, SIZE_BUCKETS } from './metric-types.ts';
export { routerMetrics } from './router-metrics.ts';
export type { RouterMetrics } from './router-metrics.ts';
export { hostMetrics } from './host-metrics.ts';
export type { HostMetrics } from './host-metrics.ts';

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsRegistryInit {
  /** Resource of exported metrics (service.name, service.instance.id); not shown in the text. */
  resource?: Resource;
  /** Extra readers, e.g. a PeriodicExportingMetricReader for OTLP. */
  readers?: IMetricReader[];
}

/** A pull reader for the text endpoint: collects on demand. */
class TextReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** Creates a registry. Each process makes one (tests make as many as they like). */
export function createMetricsRegistry(init: MetricsRegistryInit = {}): MetricsRegistry {
  const textReader = new TextReader();
  const provider = new MeterProvider({
    ...(init.resource ? { resource: init.resource } : {}),
    readers: [textReader, ...(init.readers ?? [])],
  });
  const meter = provider.getMeter('swarmpath');
  const serializer = new PrometheusSerializer('', false, undefined, true, true);
  const names = new Set<string>();
  const claim = (name: string): void => {
    if (!/^swarmpath_[a-z0-9_]+$/.test(name)) throw new Error(`metric name ${name} must match swarmpath_[a-z0-9_]+`);
    if (names.has(name)) throw new Error(`metric ${name} is registered twice`);
    names.add(name);
  };
  let stopped: Promise<void> | undefined;
  return {
    meter,
    counter<L extends string>(name: string, help: string): Counter<L> {
      claim(name);
      const c = meter.createCounter(name.replace(/_total$/, ''), { description: help });
      return { inc: (labels, n = 1) => { if (n > 0) c.add(n, labels as Attributes); } };
    },
    histogram<L extends string>(name: string, help: string, buckets: readonly number[]): Histogram<L> {
      claim(name);
      const h = meter.createHistogram(name, { description: help, advice: { explicitBucketBoundaries: [...buckets] } });
      return { observe: (labels, v) => { if (Number.isFinite(v) && v >= 0) h.record(v, labels as Attributes); } };
    },
    gauge<L extends string>(name: string, help: string): Gauge<L> {
      claim(name);
      const g = meter.createGauge(name, { description: help });
      return { set: (labels, v) => { if (Number.isFinite(v)) g.record(v, labels as Attributes); } };
    },
    async text(): Promise<string> {
      const { resourceMetrics } = await textReader.collect();
      return serializer.serialize(resourceMetrics);
    },
    shutdown(): Promise<void> {
      stopped ??= provider.shutdown().catch(() => {});
      return stopped;
    },
  };
}
