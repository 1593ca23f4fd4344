import { test } from 'vitest';
import assert from 'node:assert/strict';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { setupTelemetry } from '../../../shared/telemetry/setup.ts';
import { withSpan, SpanKind } from '../../../shared/telemetry/trace.ts';
import { startStageSpan } from '../../../shared/telemetry/stage-span.ts';
import { routerMetrics } from '../../../shared/telemetry/metrics.ts';
import { createLogger, silentLogger } from '../../../shared/log.ts';
import { startOtlpReceiver } from './otlp-receiver.ts';

const CHILD = new URL('./fixtures/child-span.ts', import.meta.url).pathname;

function runChild(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  test(`spans of two processes arrive over OTLP ${protocol} as one trace with correct parents and services`, async () => {
    const rx = await startOtlpReceiver();
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_METRICS_EXPORTER: 'none' };
    const t = await setupTelemetry({ serviceName: 'swarmpath-router', instanceId: 'router-1', log: silentLogger, env });
    assert.equal(t.tracing, true);
    let child: Awaited<ReturnType<typeof runChild>> | undefined;
    await withSpan('POST /v1/completions', { 'http.request.method': 'POST' }, async () => {
      const stage = startStageSpan('stage L0.0', { 'swarmpath.expert': 'L0.0' });
      assert.ok(stage.traceparent);
      child = await runChild({ ...env, TRACEPARENT: stage.traceparent!, INSTANCE_ID: 'peer-B' });
      stage.decode(2);
      stage.end();
    }, { kind: SpanKind.SERVER });
    await t.shutdown();
    assert.equal(child?.code, 0, child?.stderr);
    assert.match(child!.stdout, /"tracing":true/);
    await rx.until(() => rx.spans.length >= 4);
    await rx.close();

    const byName = new Map(rx.spans.map((s) => [s.name, s]));
    const req = byName.get('POST /v1/completions')!;
    const stage = byName.get('stage L0.0')!;
    const session = byName.get('Session L0.0')!;
    const onnx = byName.get('onnx L0.0')!;
    for (const s of [req, stage, session, onnx]) {
      assert.ok(s, `all four spans arrived: ${rx.spans.map((x) => x.name).join(', ')}`);
      assert.equal(s.traceId, req.traceId, `${s.name} is in the request's trace`);
      assert.match(s.contentType, protocol === 'http/json' ? /json/ : /protobuf/);
    }
    assert.equal(req.parentSpanId, '', 'the request span is the root');
    assert.equal(stage.parentSpanId, req.spanId);
    assert.equal(session.parentSpanId, stage.spanId, 'the host session span is a child of the router stage span');
    assert.equal(onnx.parentSpanId, session.spanId);
    assert.deepEqual([req.service, stage.service, session.service, onnx.service], ['swarmpath-router', 'swarmpath-router', 'swarmpath-host', 'swarmpath-host']);
    assert.equal(req.instanceId, 'router-1');
    assert.equal(session.instanceId, 'peer-B');
    assert.equal(req.kind, 2, 'SERVER');
    assert.equal(stage.kind, 3, 'CLIENT');
    assert.equal(session.attributes['swarmpath.decode.steps'], 5);
    assert.equal(session.attributes['swarmpath.prefill.tokens'], 4);
    assert.ok(session.events.includes('decode.batch'));
  });
}

test('metrics are pushed over OTLP when OTEL_METRICS_EXPORTER=otlp', async () => {
  const rx = await startOtlpReceiver();
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint, OTEL_METRICS_EXPORTER: 'otlp', OTEL_TRACES_EXPORTER: 'none' };
  const t = await setupTelemetry({ serviceName: 'swarmpath-router', instanceId: 'r', log: silentLogger, env });
  assert.equal(t.tracing, false);
  assert.equal(t.metricsExport, true);
  routerMetrics(t.metrics).requests.inc({ endpoint: '/v1/completions', code: '200' });
  await t.shutdown();
  await rx.until(() => rx.metrics.some((m) => m.name === 'swarmpath_requests'));
  await rx.close();
  const m = rx.metrics.find((x) => x.name === 'swarmpath_requests')!;
  assert.equal(m.service, 'swarmpath-router');
  assert.match(m.contentType, /protobuf/);
});

test('a collector that never answers fails no request, is logged once, and shutdown stays bounded', async () => {
  // A TCP server that accepts connections and never replies: the worst collector.
  const sockets = new Set<Socket>();
  const hole = createServer((s) => { sockets.add(s); s.on('error', () => {}); });
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  const port = (hole.address() as AddressInfo).port;
  const lines: string[] = [];
  const log = createLogger('test', { level: 'debug', write: (l) => lines.push(l) });
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '300',
    OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '8', OTEL_METRICS_EXPORTER: 'none',
  };
  const t = await setupTelemetry({ serviceName: 'swarmpath-router', instanceId: 'r', log, env });
  let done = 0;
  for (let i = 0; i < 200; i++) {
    await withSpan('request', { i }, async () => { await new Promise((r) => setImmediate(r)); done++; });
  }
  assert.equal(done, 200);
  // Let exports fail (each times out after 300 ms) until the failure is logged, then shut down with a bound.
  await waitFor('an export failure logged', () => lines.some((l) => l.includes('further telemetry errors are not logged')), { timeoutMs: 10_000, intervalMs: 50 });
  const t0 = Date.now();
  await t.shutdown(1500);
  const shutdownMs = Date.now() - t0;
  assert.ok(shutdownMs < 5000, `shutdown returned (${shutdownMs} ms)`);
  const failures = lines.filter((l) => l.includes('further telemetry errors are not logged'));
  assert.equal(failures.length, 1, lines.join('\n'));
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => hole.close(() => r()));
});

for (const protocol of ['http/json', 'grpc'] as const) test(`a collector that refuses connections fails no request (${protocol})`, async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const lines: string[] = [];
  const log = createLogger('test', { write: (l) => lines.push(l) });
  const t = await setupTelemetry({ serviceName: 'swarmpath-host', instanceId: 'h', log, env: {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_EXPORTER_OTLP_TIMEOUT: '400',
  } });
  assert.equal(t.tracing, true);
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => withSpan('step', {}, () => i)));
  assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i));
  routerMetrics(t.metrics).requests.inc({ endpoint: '/healthz', code: '200' });
  await t.shutdown(1500);
  assert.ok(lines.filter((l) => l.includes('further telemetry errors')).length <= 1);
});
