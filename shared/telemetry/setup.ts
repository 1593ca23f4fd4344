/**
 * Wires the OpenTelemetry SDK for one process. Call it only at a process entry point (cli/commands/
 * router.ts, host.ts); library code uses `@opentelemetry/api` through trace.ts and stage-span.ts and
 * receives the metrics registry as a component.
 *
 * Tracing is off unless the environment asks for it (see otel-env.ts): then nothing is registered and
 * the API stays a no-op. When on: a tracer provider with resource `service.name` and
 * `service.instance.id` (a host's peer id), the sampler of OTEL_TRACES_SAMPLER, a batch span
 * processor, the W3C trace-context propagator and an AsyncLocalStorage context manager.
 *
 * A dead or slow collector never fails or slows a request: export runs off the request path with a
 * timeout, the queue drops spans when full, errors are logged once (then counted silently), and
 * `shutdown()` gives up after a bounded time.
 */
import { context, propagation, trace, diag, DiagLogLevel } from '@opentelemetry/api';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from './attributes.ts';
import type { Logger } from '../log.ts';
import { readOtelEnv } from './otel-env.ts';
import type { TelemetryConfig } from './otel-env.ts';
import { createMetricsRegistry } from './metrics.ts';
import type { MetricsRegistry } from './metric-types.ts';

export interface TelemetryInit {
  /** `swarmpath-router` or `swarmpath-host` (OTEL_SERVICE_NAME overrides). */
  serviceName: string;
  /**
   * `service.instance.id`: a host's or router's peer id, or any id unique to the process. May be a
   * promise (the peer id is known only once libp2p started): exports wait for it.
   */
  instanceId: string | Promise<string>;
  log: Logger;
  /** Extra resource attributes, e.g. `{ 'swarmpath.model': 'swarmpath-tiny' }`. */
  attributes?: Record<string, string>;
  /** The environment to read (process.env by default). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface Telemetry {
  /** Whether spans are recorded and exported. */
  readonly tracing: boolean;
  /** Whether metrics are also pushed over OTLP. */
  readonly metricsExport: boolean;
  /** The process's metrics registry (always present: it serves /metrics). */
  readonly metrics: MetricsRegistry;
  readonly config: Readonly<TelemetryConfig>;
  /** Flushes what is pending (bounded by `timeoutMs`, default 3000), stops exporters, unregisters globals. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Sets up tracing and metrics from the environment. Never throws for a bad OTEL_* value. */
export async function setupTelemetry(init: TelemetryInit): Promise<Telemetry> {
  const log = init.log.child('telemetry');
  const config = readOtelEnv(init.env ?? process.env, init.serviceName);
  for (const w of config.warnings) log.warn(w);
  const exporting = config.traces.type !== 'none' || config.metrics.type !== 'none';
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const resource = resourceFromAttributes({
    ...config.resourceAttributes,
    ...init.attributes,
    [ATTR_SERVICE_NAME]: config.serviceName,
    [ATTR_SERVICE_INSTANCE_ID]: typeof init.instanceId === 'string' ? init.instanceId : init.instanceId.catch(() => 'unknown'),
  });
  if (exporting) await installErrorReporting(log);
  const stops: Array<() => Promise<void>> = [];

  const { metrics, exported } = await startMetrics(config, resource, log);
  stops.push(() => metrics.shutdown());
  const tracing = config.traces.type !== 'none' && await startTracing(config, resource, log, stops);
  let done: Promise<void> | undefined;
  return {
    tracing,
    metricsExport: exported,
    metrics,
    config,
    shutdown(timeoutMs = 3000): Promise<void> {
      done ??= (async () => {
        const all = Promise.allSettled(stops.reverse().map((s) => s()));
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => { timer = setTimeout(() => r('late'), timeoutMs); timer.unref(); });
        if (await Promise.race([all, late]) === 'late') log.warn('telemetry shutdown timed out; pending spans dropped', { timeoutMs });
        clearTimeout(timer);
        if (tracing) { trace.disable(); context.disable(); propagation.disable(); }
        if (exporting) diag.disable();
      })();
      return done;
    },
  };
}

type ResourceT = import('@opentelemetry/resources').Resource;

/** The metrics registry, with a periodic OTLP reader when OTEL_METRICS_EXPORTER asks for one. */
async function startMetrics(config: Readonly<TelemetryConfig>, resource: ResourceT, log: Logger): Promise<{ metrics: MetricsRegistry; exported: boolean }> {
  const { createMetricExporter } = await import('./exporters.ts');
  const exporter = await createMetricExporter(config.metrics, log);
  if (!exporter) return { metrics: createMetricsRegistry({ resource }), exported: false };
  const { PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const reader = new PeriodicExportingMetricReader({
    exporter, exportIntervalMillis: config.metricIntervalMs,
    exportTimeoutMillis: Math.min(config.metricIntervalMs, config.metrics.type === 'otlp' ? config.metrics.timeoutMs : 5000),
  });
  log.info('metrics export on', { target: describe(config.metrics) });
  return { metrics: createMetricsRegistry({ resource, readers: [reader] }), exported: true };
}

async function startTracing(config: Readonly<TelemetryConfig>, resource: ResourceT, log: Logger,
  stops: Array<() => Promise<void>>): Promise<boolean> {
  const { createSpanExporter } = await import('./exporters.ts');
  const exporter = await createSpanExporter(config.traces, log);
  if (!exporter) return false;
  const sdk = await import('@opentelemetry/sdk-trace');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { samplerFor } = await import('./sampler.ts');
  const timeoutMs = config.traces.type === 'otlp' ? config.traces.timeoutMs : 5000;
  const processor = new sdk.BatchSpanProcessor({
    exporter,
    scheduledDelayMillis: config.batch.scheduleDelayMs,
    maxQueueSize: config.batch.maxQueueSize,
    maxExportBatchSize: Math.min(config.batch.maxExportBatchSize, config.batch.maxQueueSize),
    exportTimeoutMillis: timeoutMs + 1000,
  });
  const provider = new sdk.TracerProvider({ resource, sampler: samplerFor(config.sampler, sdk), spanProcessors: [processor] });
  const cm = new AsyncLocalStorageContextManager();
  cm.enable();
  const ok = context.setGlobalContextManager(cm) && propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    && trace.setGlobalTracerProvider(provider);
  if (!ok) {
    log.warn('another tracer provider is already registered in this process; tracing setup skipped');
    await provider.shutdown().catch(() => {});
    return false;
  }
  stops.push(() => provider.shutdown());
  log.info('tracing on', { service: config.serviceName, target: describe(config.traces), sampler: config.sampler.name });
  return true;
}

function describe(t: TelemetryConfig['traces']): string {
  return t.type === 'otlp' ? `otlp ${t.protocol} ${t.url}` : t.type;
}

/**
 * Routes SDK errors (failed exports) to one log line, then silence: a dead collector must not fill
 * the log. Also sends the SDK's own diagnostics at warn level and above to the same place.
 */
async function installErrorReporting(log: Logger): Promise<void> {
  let logged = 0;
  const once = (msg: string, fields: Record<string, unknown>): void => {
    logged++;
    if (logged === 1) log.warn(`${msg} (further telemetry errors are not logged)`, fields);
  };
  const { setGlobalErrorHandler } = await import('@opentelemetry/core');
  setGlobalErrorHandler((err) => once('telemetry export failed; requests are unaffected', { error: errorText(err) }));
  diag.setLogger({
    error: (m, ...a) => once(`telemetry: ${m}`, { detail: a.map(errorText).join(' ') }),
    warn: (m, ...a) => once(`telemetry: ${m}`, { detail: a.map(errorText).join(' ') }),
    info: () => {}, debug: () => {}, verbose: () => {},
  }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}
