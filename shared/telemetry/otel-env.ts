/**
 * Reads the standard `OTEL_*` environment variables into a plain, frozen telemetry configuration.
 * Pure: no I/O, no globals; `setup.ts` turns the result into SDK objects. Parsing is lenient, as the
 * OpenTelemetry specification asks: an unknown value falls back to the default and is reported in
 * `warnings` instead of failing the process.
 *
 * Tracing is off unless asked for: `OTEL_TRACES_EXPORTER` names an exporter, or an OTLP endpoint is
 * set (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Metrics are pushed over
 * OTLP only when `OTEL_METRICS_EXPORTER=otlp` says so (trace backends such as Jaeger take no metrics;
 * `/metrics` serves them anyway). `OTEL_SDK_DISABLED=true` turns every export off (the `/metrics`
 * text endpoint is the product's own and stays on).
 */

export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
export type SamplerName =
  | 'always_on' | 'always_off' | 'traceidratio'
  | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';

/** Where one signal goes. `url` is the full URL the exporter posts to (grpc: `http://host:port`). */
export type ExportTarget =
  | { type: 'none' }
  | { type: 'console' }
  | { type: 'otlp'; protocol: OtlpProtocol; url: string; timeoutMs: number; headers: Record<string, string> };

export interface TelemetryConfig {
  serviceName: string;
  /** Extra resource attributes from OTEL_RESOURCE_ATTRIBUTES. */
  resourceAttributes: Record<string, string>;
  traces: ExportTarget;
  sampler: { name: SamplerName; ratio: number };
  metrics: ExportTarget;
  /** Interval of OTLP metric export, ms (OTEL_METRIC_EXPORT_INTERVAL). */
  metricIntervalMs: number;
  /** Batch span processor (OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE). */
  batch: { scheduleDelayMs: number; maxQueueSize: number; maxExportBatchSize: number };
  /** Things that were ignored, one line each, for the caller to log. */
  warnings: string[];
}

const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio',
  'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];
/** Default export timeout: shorter than the specification's 10 s so that shutdown drains quickly. */
const DEFAULT_TIMEOUT_MS = 5000;

type Env = Readonly<Record<string, string | undefined>>;

/** Parses the environment. `defaultServiceName` applies unless OTEL_SERVICE_NAME is set. */
export function readOtelEnv(env: Env, defaultServiceName: string): Readonly<TelemetryConfig> {
  const warnings: string[] = [];
  const get = (k: string): string | undefined => {
    const v = env[k]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const disabled = get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true';
  const resourceAttributes = parseKeyValues(get('OTEL_RESOURCE_ATTRIBUTES'), 'OTEL_RESOURCE_ATTRIBUTES', warnings);
  const serviceName = get('OTEL_SERVICE_NAME') ?? defaultServiceName;
  const traces = disabled ? { type: 'none' as const } : signalTarget('traces', get, warnings);
  const metrics = disabled ? { type: 'none' as const } : signalTarget('metrics', get, warnings);
  const sampler = readSampler(get, warnings);
  const metricIntervalMs = positiveInt(get('OTEL_METRIC_EXPORT_INTERVAL'), 60000, 'OTEL_METRIC_EXPORT_INTERVAL', warnings);
  const batch = {
    scheduleDelayMs: positiveInt(get('OTEL_BSP_SCHEDULE_DELAY'), 5000, 'OTEL_BSP_SCHEDULE_DELAY', warnings),
    maxQueueSize: positiveInt(get('OTEL_BSP_MAX_QUEUE_SIZE'), 2048, 'OTEL_BSP_MAX_QUEUE_SIZE', warnings),
    maxExportBatchSize: positiveInt(get('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'), 512, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', warnings),
  };
  return Object.freeze({ serviceName, resourceAttributes, traces, sampler, metrics, metricIntervalMs, batch, warnings });
}

function signalTarget(signal: 'traces' | 'metrics', get: (k: string) => string | undefined, warnings: string[]): ExportTarget {
  const S = signal.toUpperCase();
  const exporterVar = `OTEL_${S}_EXPORTER`;
  const names = (get(exporterVar) ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const signalEndpoint = get(`OTEL_EXPORTER_OTLP_${S}_ENDPOINT`);
  const baseEndpoint = get('OTEL_EXPORTER_OTLP_ENDPOINT');
  let name: string;
  // An endpoint alone turns traces on; metrics need OTEL_METRICS_EXPORTER.
  if (names.length === 0) name = signal === 'traces' && (signalEndpoint || baseEndpoint) ? 'otlp' : 'none';
  else {
    name = names[0];
    if (names.length > 1) warnings.push(`${exporterVar}: only the first exporter (${name}) is used`);
  }
  if (name === 'none') return { type: 'none' };
  if (name === 'console') return { type: 'console' };
  if (name !== 'otlp') {
    warnings.push(`${exporterVar}=${name} is not supported (otlp, console, none); ${signal} export is off`);
    return { type: 'none' };
  }
  const rawProtocol = get(`OTEL_EXPORTER_OTLP_${S}_PROTOCOL`) ?? get('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf';
  let protocol = rawProtocol as OtlpProtocol;
  if (!PROTOCOLS.includes(protocol)) {
    warnings.push(`OTLP protocol ${JSON.stringify(rawProtocol)} is not one of ${PROTOCOLS.join(', ')}; using http/protobuf`);
    protocol = 'http/protobuf';
  }
  const url = otlpUrl(signal, protocol, signalEndpoint, baseEndpoint);
  const timeoutMs = positiveInt(get(`OTEL_EXPORTER_OTLP_${S}_TIMEOUT`) ?? get('OTEL_EXPORTER_OTLP_TIMEOUT'),
    DEFAULT_TIMEOUT_MS, `OTEL_EXPORTER_OTLP_${S}_TIMEOUT`, warnings);
  const headers = {
    ...parseKeyValues(get('OTEL_EXPORTER_OTLP_HEADERS'), 'OTEL_EXPORTER_OTLP_HEADERS', warnings),
    ...parseKeyValues(get(`OTEL_EXPORTER_OTLP_${S}_HEADERS`), `OTEL_EXPORTER_OTLP_${S}_HEADERS`, warnings),
  };
  return { type: 'otlp', protocol, url, timeoutMs, headers };
}

/**
 * The URL an exporter uses. A signal-specific endpoint is taken as is; the base endpoint gets
 * `/v1/<signal>` appended for HTTP (as the specification says); gRPC takes host and port only.
 */
export function otlpUrl(signal: 'traces' | 'metrics', protocol: OtlpProtocol, signalEndpoint?: string, baseEndpoint?: string): string {
  if (protocol === 'grpc') return signalEndpoint ?? baseEndpoint ?? 'http://localhost:4317';
  if (signalEndpoint) return signalEndpoint;
  const base = (baseEndpoint ?? 'http://localhost:4318').replace(/\/+$/, '');
  return `${base}/v1/${signal}`;
}

function readSampler(get: (k: string) => string | undefined, warnings: string[]): { name: SamplerName; ratio: number } {
  const raw = get('OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  let name = raw as SamplerName;
  if (!SAMPLERS.includes(name)) {
    warnings.push(`OTEL_TRACES_SAMPLER=${raw} is not supported (${SAMPLERS.join(', ')}); using parentbased_always_on`);
    name = 'parentbased_always_on';
  }
  const argRaw = get('OTEL_TRACES_SAMPLER_ARG');
  let ratio = 1;
  if (argRaw !== undefined) {
    const n = Number(argRaw);
    if (Number.isFinite(n) && n >= 0 && n <= 1) ratio = n;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG=${argRaw} is not a ratio in [0, 1]; using 1`);
  }
  return { name, ratio };
}

function positiveInt(raw: string | undefined, dflt: number, name: string, warnings: string[]): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (Number.isInteger(n) && n > 0) return n;
  warnings.push(`${name}=${raw} is not a positive integer; using ${dflt}`);
  return dflt;
}

/** `k1=v1,k2=v2` with percent-decoding, as OTEL_RESOURCE_ATTRIBUTES and *_HEADERS are written. */
export function parseKeyValues(raw: string | undefined, name: string, warnings: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) { warnings.push(`${name}: ignored ${JSON.stringify(part)} (not key=value)`); continue; }
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      warnings.push(`${name}: ignored ${JSON.stringify(part)} (bad percent-encoding)`);
    }
  }
  return out;
}
