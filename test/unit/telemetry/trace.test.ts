import { test, beforeEach } from 'vitest';
import assert from 'node:assert/strict';
import { trace, SpanStatusCode } from '@opentelemetry/api';
import { TracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { useInMemoryTracing } from '../../helpers/in-memory-tracing.ts';
import { withSpan, currentTraceparent, extractTraceContext, contextFromTraceparent, injectTraceContext, SpanKind } from '../../../shared/telemetry/trace.ts';
import { startStageSpan } from '../../../shared/telemetry/stage-span.ts';
import { SwarmpathError } from '../../../shared/errors.ts';

const tracing = useInMemoryTracing();
const exporter = tracing.exporter;
beforeEach(() => exporter.reset());

test('withSpan nests spans through async code and returns the result', async () => {
  const out = await withSpan('outer', { a: 1 }, async () => {
    await new Promise((r) => setImmediate(r)); // an async hop
    return withSpan('inner', {}, () => 42);
  });
  assert.equal(out, 42);
  const [inner, outer] = exporter.getFinishedSpans();
  assert.equal(inner.name, 'inner');
  assert.equal(outer.name, 'outer');
  assert.equal(inner.parentSpanContext?.spanId, outer.spanContext().spanId);
  assert.equal(inner.spanContext().traceId, outer.spanContext().traceId);
  assert.equal(outer.attributes.a, 1);
});

test('withSpan records an error with its code and rethrows it', async () => {
  await assert.rejects(withSpan('fails', {}, async () => { throw new SwarmpathError('NO_LIVE_REPLICA', 'none left'); }), /none left/);
  const [s] = exporter.getFinishedSpans();
  assert.equal(s.status.code, SpanStatusCode.ERROR);
  assert.equal(s.status.message, 'NO_LIVE_REPLICA');
  assert.equal(s.events[0].name, 'exception');
});

test('traceparent round-trips through a metadata map as gRPC and HTTP carry it', async () => {
  let sent: Record<string, string> = {};
  let tp: string | undefined;
  await withSpan('client', {}, () => { sent = injectTraceContext({}); tp = currentTraceparent(); }, { kind: SpanKind.CLIENT });
  assert.match(sent.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.equal(tp, sent.traceparent);
  // gRPC Metadata#getMap() gives strings; Node's IncomingMessage headers may give arrays.
  for (const carrier of [{ traceparent: sent.traceparent }, { traceparent: [sent.traceparent] }]) {
    await withSpan('server', {}, () => {}, { kind: SpanKind.SERVER, parent: extractTraceContext(carrier) });
  }
  await withSpan('from-string', {}, () => {}, { parent: contextFromTraceparent(tp) });
  const [client, ...servers] = exporter.getFinishedSpans();
  for (const s of servers) {
    assert.equal(s.spanContext().traceId, client.spanContext().traceId);
    assert.equal(s.parentSpanContext?.spanId, client.spanContext().spanId);
    assert.equal(s.parentSpanContext?.isRemote, true);
  }
  assert.equal(currentTraceparent(), undefined, 'no active span outside withSpan');
  assert.equal(trace.getSpan(extractTraceContext({ traceparent: 'garbage' })), undefined);
});

test('a stage span aggregates decode steps into batch events, not one event per token', () => {
  const s = startStageSpan('stage L0.1', { 'swarmpath.expert': 'L0.1' }, { batchSteps: 10 });
  assert.match(s.traceparent ?? '', /^00-/);
  s.prefill(12, 5.5);
  for (let i = 0; i < 25; i++) s.decode(i === 7 ? 9 : 1);
  s.event('retry', { 'swarmpath.reason': 'UNAVAILABLE' });
  s.end();
  s.end();
  s.decode(100);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1);
  const [span] = spans;
  assert.equal(span.kind, SpanKind.CLIENT);
  assert.equal(span.attributes['swarmpath.prefill.tokens'], 12);
  assert.equal(span.attributes['swarmpath.decode.steps'], 25);
  assert.equal(span.attributes['swarmpath.decode.ms_total'], 33);
  assert.equal(span.attributes['swarmpath.decode.ms_max'], 9);
  const batches = span.events.filter((e) => e.name === 'decode.batch');
  assert.deepEqual(batches.map((e) => e.attributes?.['swarmpath.steps']), [10, 10, 5]);
  assert.deepEqual(batches.map((e) => e.attributes?.['swarmpath.first_step']), [0, 10, 20]);
  assert.equal(batches[0].attributes?.['swarmpath.ms_max'], 9);
  assert.ok(span.events.some((e) => e.name === 'retry'));
});

test('a stage span ended with an error carries ERROR status', () => {
  const s = startStageSpan('Session L1.0', {}, { kind: SpanKind.SERVER });
  s.end(new SwarmpathError('UNAVAILABLE', 'host gone'));
  const [span] = exporter.getFinishedSpans();
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.status.message, 'UNAVAILABLE');
});

test('an unsampled trace stays unsampled across the stage span and its traceparent', async () => {
  const { ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace');
  // A second provider with a sampler that keeps nothing, used through its own tracer.
  const p2 = new TracerProvider({ sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) }), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.disable();
  trace.setGlobalTracerProvider(p2);
  try {
    let tp: string | undefined;
    await withSpan('root', {}, () => {
      const s = startStageSpan('stage L0.0', {});
      tp = s.traceparent;
      s.decode(1);
      s.end();
    });
    assert.match(tp ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'the not-sampled decision travels on');
    await withSpan('host side', {}, (span) => assert.equal(span.isRecording(), false), { parent: contextFromTraceparent(tp) });
    assert.equal(exporter.getFinishedSpans().length, 0);
  } finally {
    await p2.shutdown();
    trace.disable();
    trace.setGlobalTracerProvider(tracing.provider());
  }
});
