import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readOtelEnv, otlpUrl } from '../../../shared/telemetry/otel-env.ts';

test('tracing and metrics export are off when nothing is configured', () => {
  const c = readOtelEnv({}, 'swarmpath-router');
  assert.deepEqual(c.traces, { type: 'none' });
  assert.deepEqual(c.metrics, { type: 'none' });
  assert.equal(c.serviceName, 'swarmpath-router');
  assert.deepEqual(c.sampler, { name: 'parentbased_always_on', ratio: 1 });
  assert.deepEqual(c.warnings, []);
});

test('an OTLP endpoint alone turns traces on (http/protobuf, /v1/traces appended); metrics need OTEL_METRICS_EXPORTER', () => {
  const c = readOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' }, 'swarmpath-host');
  assert.deepEqual(c.traces, { type: 'otlp', protocol: 'http/protobuf', url: 'http://127.0.0.1:4318/v1/traces', timeoutMs: 5000, headers: {} });
  assert.deepEqual(c.metrics, { type: 'none' });
  const m = readOtelEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/', OTEL_METRICS_EXPORTER: 'otlp' }, 'swarmpath-host');
  assert.equal(m.metrics.type === 'otlp' && m.metrics.url, 'http://127.0.0.1:4318/v1/metrics');
});

test('signal-specific endpoint, protocol, timeout and headers win over the general ones', () => {
  const c = readOtelEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:9999/custom',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '700',
    OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=x%20y',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'b=2',
    OTEL_METRICS_EXPORTER: 'none',
  }, 's');
  assert.deepEqual(c.traces, { type: 'otlp', protocol: 'http/json', url: 'http://b:9999/custom', timeoutMs: 700, headers: { a: '1', b: '2' } });
  assert.deepEqual(c.metrics, { type: 'none' });
});

test('grpc takes the endpoint as host and port, without a path', () => {
  assert.equal(otlpUrl('traces', 'grpc', undefined, 'http://jaeger:4317'), 'http://jaeger:4317');
  assert.equal(otlpUrl('traces', 'grpc'), 'http://localhost:4317');
  assert.equal(otlpUrl('metrics', 'http/json'), 'http://localhost:4318/v1/metrics');
});

test('OTEL_TRACES_EXPORTER=otlp without an endpoint uses the default collector; console and none are honoured', () => {
  const c = readOtelEnv({ OTEL_TRACES_EXPORTER: 'otlp' }, 's');
  assert.equal(c.traces.type === 'otlp' && c.traces.url, 'http://localhost:4318/v1/traces');
  assert.deepEqual(c.metrics, { type: 'none' }, 'metrics export needs its own variable or an endpoint');
  assert.deepEqual(readOtelEnv({ OTEL_TRACES_EXPORTER: 'console' }, 's').traces, { type: 'console' });
  assert.deepEqual(readOtelEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1' }, 's').traces, { type: 'none' });
});

test('OTEL_SDK_DISABLED turns every export off; OTEL_SERVICE_NAME overrides the default name', () => {
  const c = readOtelEnv({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1', OTEL_SERVICE_NAME: 'mine' }, 'swarmpath-host');
  assert.deepEqual(c.traces, { type: 'none' });
  assert.deepEqual(c.metrics, { type: 'none' });
  assert.equal(c.serviceName, 'mine');
});

test('samplers and ratios parse; bad values fall back with a warning instead of failing', () => {
  assert.deepEqual(readOtelEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }, 's').sampler,
    { name: 'parentbased_traceidratio', ratio: 0.25 });
  const bad = readOtelEnv({ OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '2', OTEL_TRACES_EXPORTER: 'zipkin',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:1', OTEL_BSP_SCHEDULE_DELAY: '-3',
    OTEL_METRICS_EXPORTER: 'otlp' }, 's');
  assert.deepEqual(bad.sampler, { name: 'parentbased_always_on', ratio: 1 });
  assert.deepEqual(bad.traces, { type: 'none' });
  assert.equal(bad.metrics.type === 'otlp' && bad.metrics.protocol, 'http/protobuf');
  assert.equal(bad.batch.scheduleDelayMs, 5000);
  assert.equal(bad.warnings.length, 5, bad.warnings.join('\n'));
});

test('resource attributes are parsed and percent-decoded', () => {
  const c = readOtelEnv({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=dev,team=a%2Cb,broken' }, 's');
  assert.deepEqual(c.resourceAttributes, { 'deployment.environment': 'dev', team: 'a,b' });
  assert.equal(c.warnings.length, 1);
});
