/**
 * Registers a global OpenTelemetry tracer provider that keeps finished spans in memory (with the
 * async-hooks context manager and W3C propagation), for the file's `before`, and tears it all down
 * in its `after`. Tests read `exporter.getFinishedSpans()`; `provider()` is the registered provider
 * (to restore after a test swaps in another).
 */
import { beforeAll, afterAll } from 'vitest';
import { context, propagation, trace } from '@opentelemetry/api';
import { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

export function useInMemoryTracing(): { exporter: InMemorySpanExporter; provider(): TracerProvider } {
  const exporter = new InMemorySpanExporter();
  let provider: TracerProvider;
  beforeAll(() => {
    const cm = new AsyncLocalStorageContextManager();
    cm.enable();
    context.setGlobalContextManager(cm);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => { await provider.shutdown(); trace.disable(); context.disable(); propagation.disable(); });
  return { exporter, provider: () => provider };
}
