import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createMetricsRegistry, routerMetrics, hostMetrics } from '../../../shared/telemetry/metrics.ts';
import { parsePrometheusText, sampleValue } from './prometheus-text.ts';

test('router and host metrics serialize as valid Prometheus text and counters move', async () => {
  const reg = createMetricsRegistry();
  const r = routerMetrics(reg);
  const h = hostMetrics(reg);
  r.requests.inc({ endpoint: '/v1/completions', code: '200' });
  r.requests.inc({ endpoint: '/v1/completions', code: '200' }, 2);
  r.requests.inc({ endpoint: '/v1/completions', code: '503' });
  r.errors.inc({ endpoint: '/v1/completions', code: 'NO_LIVE_REPLICA' });
  r.requestDuration.observe({ endpoint: '/v1/completions' }, 0.02);
  r.requestDuration.observe({ endpoint: '/v1/completions' }, 3);
  r.timeToFirstToken.observe({ endpoint: '/v1/completions' }, 0.004);
  r.tokensGenerated.inc({ model: 'swarmpath-tiny' }, 17);
  r.liveReplicas.set({ expert: 'L0.1' }, 2);
  r.liveReplicas.set({ expert: 'L0.1' }, 1);
  r.failovers.inc({ expert: 'L1.0', reason: 'UNAVAILABLE' });
  r.retries.inc({ expert: 'L1.0', reason: 'DEADLINE_EXCEEDED' });
  r.inflight.set({}, 3);
  h.queueDepth.set({}, 4);
  h.batchSize.observe({ expert: 'L0.1' }, 8);
  h.kvUsedBytes.set({}, 1024);
  h.rpcs.inc({ method: 'Session', code: 'OK' });

  const fams = parsePrometheusText(await reg.text());
  for (const name of fams.keys()) assert.match(name, /^swarmpath_/);
  assert.equal(fams.get('swarmpath_requests_total')?.type, 'counter');
  assert.equal(sampleValue(fams, 'swarmpath_requests_total', { endpoint: '/v1/completions', code: '200' }), 3);
  assert.equal(sampleValue(fams, 'swarmpath_requests_total', { code: '503' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_errors_total', { code: 'NO_LIVE_REPLICA' }), 1);
  assert.equal(fams.get('swarmpath_request_duration_seconds')?.type, 'histogram');
  assert.equal(sampleValue(fams, 'swarmpath_request_duration_seconds_count'), 2);
  assert.equal(sampleValue(fams, 'swarmpath_request_duration_seconds_bucket', { le: '0.025' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_request_duration_seconds_sum'), 3.02);
  assert.equal(sampleValue(fams, 'swarmpath_time_to_first_token_seconds_count'), 1);
  assert.equal(sampleValue(fams, 'swarmpath_tokens_generated_total', { model: 'swarmpath-tiny' }), 17);
  assert.equal(fams.get('swarmpath_live_replicas')?.type, 'gauge');
  assert.equal(sampleValue(fams, 'swarmpath_live_replicas', { expert: 'L0.1' }), 1, 'a gauge shows its last value');
  assert.equal(sampleValue(fams, 'swarmpath_failovers_total', { expert: 'L1.0' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_retries_total', { reason: 'DEADLINE_EXCEEDED' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_inflight_requests'), 3);
  assert.equal(sampleValue(fams, 'swarmpath_host_queue_depth'), 4);
  assert.equal(sampleValue(fams, 'swarmpath_host_batch_size_count', { expert: 'L0.1' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_host_kv_used_bytes'), 1024);

  // Counters move between scrapes.
  r.requests.inc({ endpoint: '/v1/completions', code: '200' });
  r.tokensGenerated.inc({ model: 'swarmpath-tiny' }, 5);
  const again = parsePrometheusText(await reg.text());
  assert.equal(sampleValue(again, 'swarmpath_requests_total', { endpoint: '/v1/completions', code: '200' }), 4);
  assert.equal(sampleValue(again, 'swarmpath_tokens_generated_total'), 22);
  await reg.shutdown();
});

test('label values with quotes, backslashes and newlines are escaped', async () => {
  const reg = createMetricsRegistry();
  const c = reg.counter<'why'>('swarmpath_test_escapes_total', 'escapes');
  c.inc({ why: 'a "quoted"\\ line\nnext' });
  const fams = parsePrometheusText(await reg.text());
  assert.equal(sampleValue(fams, 'swarmpath_test_escapes_total', { why: 'a "quoted"\\ line\nnext' }), 1);
  await reg.shutdown();
});

test('bad values are ignored, never thrown; bad names and duplicates are refused at registration', async () => {
  const reg = createMetricsRegistry();
  const c = reg.counter('swarmpath_test_total', 'x');
  const h = reg.histogram('swarmpath_test_seconds', 'x', [1]);
  const g = reg.gauge('swarmpath_test_gauge', 'x');
  c.inc({}, -1);
  h.observe({}, NaN);
  g.set({}, Infinity);
  c.inc({});
  const fams = parsePrometheusText(await reg.text());
  assert.equal(sampleValue(fams, 'swarmpath_test_total'), 1);
  assert.equal(sampleValue(fams, 'swarmpath_test_seconds_count'), undefined);
  assert.throws(() => reg.counter('requests_total', 'x'), /swarmpath_/);
  assert.throws(() => reg.counter('swarmpath_test_total', 'x'), /twice/);
  await reg.shutdown();
});

test('the test parser rejects malformed exposition text', () => {
  assert.throws(() => parsePrometheusText('swarmpath_x 1\n'), /without a TYPE/);
  assert.throws(() => parsePrometheusText('# TYPE swarmpath_x counter\nswarmpath_x{a="1} 1\n'), /unterminated/);
  assert.throws(() => parsePrometheusText('# TYPE swarmpath_x counter\nswarmpath_x{1a="1"} 1\n'), /label name/);
  assert.throws(() => parsePrometheusText('# TYPE swarmpath_x counter\nswarmpath_x one\n'), /bad value/);
  assert.throws(() => parsePrometheusText('# TYPE swarmpath_h histogram\nswarmpath_h_bucket{le="1"} 2\nswarmpath_h_bucket{le="+Inf"} 1\nswarmpath_h_count 1\nswarmpath_h_sum 1\n'), /cumulative/);
  assert.throws(() => parsePrometheusText('# TYPE swarmpath_h histogram\nswarmpath_h_bucket{le="1"} 1\nswarmpath_h_count 1\nswarmpath_h_sum 1\n'), /\+Inf/);
  assert.equal(parsePrometheusText('# TYPE swarmpath_x gauge\nswarmpath_x{a="b"} -1.5e3\n').get('swarmpath_x')?.samples[0].value, -1500);
});

test('the host recorder turns batch runs and Info into host metrics', async () => {
  const { hostRecorder } = await import('../../../shared/telemetry/host-recorder.ts');
  const reg = createMetricsRegistry();
  const rec = hostRecorder(hostMetrics(reg));
  rec.onBatch({ expertId: 'L0.1', items: 4, rows: 4, T: 1, seconds: 0.002 });
  rec.onBatch({ expertId: 'L0.1', items: 1, rows: 1, T: 12, seconds: 0.004 });
  rec.onRpc('Session', 0);
  rec.onRpc('Forward', 14);
  rec.sample({ queueDepth: 3, experts: [{ expertId: 'L0.1', sha256: '', layers: 2, activeSessions: 5 }], kvCapacityBytes: 1000, kvFreeBytes: 400 });
  const fams = parsePrometheusText(await reg.text());
  assert.equal(sampleValue(fams, 'swarmpath_host_steps_total', { expert: 'L0.1', kind: 'decode' }), 4);
  assert.equal(sampleValue(fams, 'swarmpath_host_steps_total', { expert: 'L0.1', kind: 'prefill' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_host_tokens_total', { expert: 'L0.1' }), 16);
  assert.equal(sampleValue(fams, 'swarmpath_host_batch_size_count', { expert: 'L0.1' }), 2);
  assert.equal(sampleValue(fams, 'swarmpath_host_batch_size_bucket', { expert: 'L0.1', le: '2' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_host_step_duration_seconds_sum', { expert: 'L0.1' }), 0.006);
  assert.equal(sampleValue(fams, 'swarmpath_host_rpcs_total', { method: 'Session', code: 'OK' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_host_rpcs_total', { method: 'Forward', code: 'UNAVAILABLE' }), 1);
  assert.equal(sampleValue(fams, 'swarmpath_host_queue_depth'), 3);
  assert.equal(sampleValue(fams, 'swarmpath_host_active_sessions', { expert: 'L0.1' }), 5);
  assert.equal(sampleValue(fams, 'swarmpath_host_kv_used_bytes'), 600);
  assert.equal(sampleValue(fams, 'swarmpath_host_kv_capacity_bytes'), 1000);
  await reg.shutdown();
});

test('the host recorder follows the DHT node: connections held, and trims from a running total', async () => {
  const { hostRecorder } = await import('../../../shared/telemetry/host-recorder.ts');
  const reg = createMetricsRegistry();
  const rec = hostRecorder(hostMetrics(reg));
  rec.sampleNetwork({ connections: 40, trimmed: 3 });
  rec.sampleNetwork({ connections: 35, trimmed: 3 });
  rec.sampleNetwork({ connections: 37, trimmed: 8 });
  const fams = parsePrometheusText(await reg.text());
  assert.equal(sampleValue(fams, 'swarmpath_host_libp2p_connections'), 37);
  assert.equal(sampleValue(fams, 'swarmpath_host_libp2p_connections_trimmed_total'), 8);
  await reg.shutdown();
});

test('the host recorder follows the gRPC server: connections open, and refusals from a running total', async () => {
  const { hostRecorder } = await import('../../../shared/telemetry/host-recorder.ts');
  const reg = createMetricsRegistry();
  const rec = hostRecorder(hostMetrics(reg));
  rec.sampleConnections({ open: 5, refused: 0 });
  rec.sampleConnections({ open: 64, refused: 10 });
  rec.sampleConnections({ open: 63, refused: 12 });
  const fams = parsePrometheusText(await reg.text());
  assert.equal(sampleValue(fams, 'swarmpath_host_grpc_connections'), 63);
  assert.equal(sampleValue(fams, 'swarmpath_host_grpc_connections_refused_total'), 12);
  await reg.shutdown();
});
