import { test } from 'vitest';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { withSpan, currentTraceparent, injectTraceContext } from '../../../shared/telemetry/trace.ts';
import { startStageSpan } from '../../../shared/telemetry/stage-span.ts';
import { setupTelemetry } from '../../../shared/telemetry/setup.ts';
import { silentLogger } from '../../../shared/log.ts';

test('with no OTEL_* configuration nothing is registered and the helpers are no-ops', async () => {
  const t = await setupTelemetry({ serviceName: 'swarmpath-router', instanceId: 'r1', log: silentLogger, env: {} });
  assert.equal(t.tracing, false);
  assert.equal(t.metricsExport, false);
  const seen = await withSpan('x', {}, (span) => span.isRecording());
  assert.equal(seen, false);
  assert.deepEqual(injectTraceContext({}), {});
  assert.equal(currentTraceparent(), undefined);
  const s1 = startStageSpan('stage L0.0', {});
  const s2 = startStageSpan('stage L0.1', {});
  assert.equal(s1, s2, 'one shared no-op object: nothing allocated per session');
  s1.prefill(3, 1); s1.decode(1); s1.end();
  assert.equal(trace.getTracerProvider().getTracer('t').startSpan('y').isRecording(), false);
  // The metrics registry still works: /metrics is the product's own endpoint.
  const c = t.metrics.counter('swarmpath_off_total', 'x');
  c.inc({});
  assert.match(await t.metrics.text(), /swarmpath_off_total 1/);
  await t.shutdown();
});
