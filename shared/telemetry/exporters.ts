/**
 * Builds the span and metric exporters named by a `TelemetryConfig` target. The OTLP packages are
 * imported lazily, so that a process with telemetry off never loads them. The `console` target
 * writes to stderr (stdout carries only machine-readable events, SPEC.md section 2).
 */
import type { SpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { ExportResult } from '@opentelemetry/core';
import type { Logger } from '../log.ts';
import type { ExportTarget } from './otel-env.ts';
import { ATTR_SERVICE_NAME } from './attributes.ts';

/** The exporter for spans, or undefined when the target is `none`. */
export async function createSpanExporter(target: ExportTarget, _log: Logger): Promise<SpanExporter | undefined> {
  switch (target.type) {
    case 'none': return undefined;
    case 'console': return stderrSpanExporter();
    case 'otlp': {
      const common = { url: target.url, timeoutMillis: target.timeoutMs, concurrencyLimit: 4 };
      if (target.protocol === 'grpc') {
        const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
        return new OTLPTraceExporter(common) as unknown as SpanExporter;
      }
      if (target.protocol === 'http/json') {
        const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
        return new OTLPTraceExporter({ ...common, headers: target.headers }) as unknown as SpanExporter;
      }
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter({ ...common, headers: target.headers }) as unknown as SpanExporter;
    }
  }
}

/**
 * The exporter for metrics, or undefined for `none`. No OTLP/gRPC metric exporter is installed, so
 * `grpc` falls back to http/protobuf on the collector's HTTP port (4318), with a warning.
 */
export async function createMetricExporter(target: ExportTarget, log: Logger): Promise<PushMetricExporter | undefined> {
  switch (target.type) {
    case 'none': return undefined;
    case 'console':
      // The SDK's console exporter writes to stdout, which carries events; /metrics shows the same data.
      log.warn('OTEL_METRICS_EXPORTER=console is not supported (stdout carries events); read /metrics instead');
      return undefined;
    case 'otlp': {
      let url = target.url;
      if (target.protocol === 'grpc') {
        url = url.replace(/:4317\/?$/, ':4318').replace(/\/+$/, '') + (url.endsWith('/v1/metrics') ? '' : '/v1/metrics');
        log.warn('no OTLP/gRPC metric exporter is installed; exporting metrics over http/protobuf', { url });
      }
      const opts = { url, timeoutMillis: target.timeoutMs, headers: target.headers, concurrencyLimit: 2 };
      if (target.protocol === 'http/json') {
        const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
        return new OTLPMetricExporter(opts) as unknown as PushMetricExporter;
      }
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-proto');
      return new OTLPMetricExporter(opts) as unknown as PushMetricExporter;
    }
  }
}

/**
 * One stderr line per span (`span {json}`): name, ids, service, duration, status and attributes. For
 * debugging without a collector; written whatever SWARMPATH_LOG says, since it was asked for.
 */
function stderrSpanExporter(): SpanExporter {
  return {
    export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
      for (const s of spans) {
        const ctx = s.spanContext();
        const line = {
          name: s.name, traceId: ctx.traceId, spanId: ctx.spanId, parentSpanId: s.parentSpanContext?.spanId,
          service: s.resource.attributes[ATTR_SERVICE_NAME], ms: s.duration[0] * 1e3 + s.duration[1] / 1e6,
          status: s.status.code, attributes: s.attributes,
        };
        try { process.stderr.write(`span ${JSON.stringify(line)}\n`); } catch { /* never fails the program */ }
      }
      done({ code: 0 });
    },
    async shutdown(): Promise<void> {},
  };
}
