import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanStatusCode } from '@opentelemetry/api';
import { useInMemoryTracing } from '../../helpers/in-memory-tracing.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { traceHttpRequest } from '../../../shared/telemetry/http-span.ts';
import { withSpan } from '../../../shared/telemetry/trace.ts';
import { createMetricsRegistry } from '../../../shared/telemetry/metrics.ts';
import { startMetricsServer } from '../../../shared/telemetry/metrics-server.ts';
import { silentLogger } from '../../../shared/log.ts';
import { parsePrometheusText, sampleValue } from '../../unit/telemetry/prometheus-text.ts';

const { exporter } = useInMemoryTracing();

test('an HTTP request becomes a server span under the caller\'s traceparent, with its status', async () => {
  const server = createServer((req, res) => {
    void traceHttpRequest(req, res, '/v1/completions', async () => {
      await withSpan('inner', {}, () => {});
      res.writeHead(req.headers['x-fail'] ? 503 : 200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/completions`;
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const parentId = 'b7ad6b7169203331';
  await (await fetch(url, { method: 'POST', headers: { traceparent: `00-${traceId}-${parentId}-01` } })).text();
  await (await fetch(url, { method: 'POST', headers: { 'x-fail': '1' } })).text();
  const posts = () => exporter.getFinishedSpans().filter((s) => s.name === 'POST /v1/completions');
  // The span ends when the server side of the response closes, just after the client has read it.
  await waitFor(() => `two POST spans (got ${posts().length})`, () => posts().length >= 2, { timeoutMs: 5_000, intervalMs: 10 });
  server.close();
  const spans = posts();
  assert.equal(spans.length, 2);
  const [first, second] = spans;
  assert.equal(first.spanContext().traceId, traceId);
  assert.equal(first.parentSpanContext?.spanId, parentId);
  assert.equal(first.attributes['http.response.status_code'], 200);
  assert.equal(second.parentSpanContext, undefined, 'no traceparent: a root span');
  assert.equal(second.attributes['http.response.status_code'], 503);
  assert.equal(second.status.code, SpanStatusCode.ERROR);
  const inner = exporter.getFinishedSpans().find((s) => s.name === 'inner')!;
  assert.equal(inner.parentSpanContext?.spanId, first.spanContext().spanId);
});

test('a host\'s --metrics-listen server serves Prometheus text and 404s elsewhere', async () => {
  const registry = createMetricsRegistry();
  registry.counter('swarmpath_test_requests_total', 'x').inc({});
  const srv = await startMetricsServer({ port: 0, registry, log: silentLogger });
  try {
    const res = await fetch(srv.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(sampleValue(parsePrometheusText(await res.text()), 'swarmpath_test_requests_total'), 1);
    assert.equal((await fetch(srv.url.replace('/metrics', '/nope'))).status, 404);
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  } finally {
    await srv.stop();
    await registry.shutdown();
  }
});
