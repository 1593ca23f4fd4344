/**
 * Small helpers over `@opentelemetry/api` for router and host code: run a function in a span, and
 * carry the W3C `traceparent` through plain metadata maps (gRPC metadata, HTTP headers). Without an
 * SDK (tracing off) every call here is the API's no-op: no allocation beyond a shared no-op span.
 * Telemetry never throws into the program: a failing span operation is swallowed.
 *
 * Span names used by swarmpath (keep them few and stable, they are what people search for):
 * `POST /v1/completions` (router, SERVER), `route` (router), `stage L0.3` (router, CLIENT, one per
 * stage session), `Session L0.3` (host, SERVER, one per session stream), `Forward L0.3` (host).
 */
import { context, propagation, trace, isSpanContextValid, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Attributes, Context, Span, TextMapGetter, Tracer } from '@opentelemetry/api';

export { SpanKind };
export type { Attributes, Context, Span };

/** Instrumentation scope of every swarmpath span. */
export const TRACER_NAME = 'swarmpath';
export const TRACEPARENT = 'traceparent';

/** The swarmpath tracer (the global provider's; a no-op tracer while tracing is off). */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

export interface SpanOpts {
  kind?: SpanKind;
  /** Parent context; the active context by default. */
  parent?: Context;
}

/**
 * Runs the synchronous `fn` as a span named `name`, a child of the active span (for short steps such
 * as path choice, which call nothing else). A throw is recorded and rethrown; the span always ends.
 */
export function withSpanSync<T>(name: string, attrs: Attributes, fn: (span: Span) => T): T {
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes: attrs }, context.active());
  try {
    return fn(span);
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/**
 * Runs `fn` inside a new active span named `name`. A throw or rejection records the exception, sets
 * status ERROR (message = the error's `code` when it has one) and rethrows; the span always ends.
 */
export async function withSpan<T>(name: string, attrs: Attributes, fn: (span: Span) => Promise<T> | T, opts: SpanOpts = {}): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: attrs }, parent);
  // Tracing off: nothing to propagate, no context switch. (A valid but unsampled span still becomes
  // the active one, so that its children and callees inherit the "not sampled" decision.)
  if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return fn(span);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks `span` failed with `err` (no-op on a non-recording span). Never throws. */
export function recordError(span: Span, err: unknown): void {
  if (!span.isRecording()) return;
  try {
    const e = err instanceof Error ? err : new Error(String(err));
    span.recordException(e);
    const code = (err as { code?: unknown } | null)?.code;
    span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : e.message });
  } catch { /* telemetry never fails the program */ }
}

/**
 * Writes `traceparent` (and `tracestate` when present) of `ctx` into `carrier` and returns it.
 * Writes nothing while tracing is off or when `ctx` holds no valid span.
 */
export function injectTraceContext<C extends Record<string, string>>(carrier: C, ctx: Context = context.active()): C {
  try { propagation.inject(ctx, carrier); } catch { /* never fails the program */ }
  return carrier;
}

/** The `traceparent` of the active (or given) context, for `CallOpts.traceparent`; undefined when none. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  injectTraceContext(carrier, ctx);
  return carrier[TRACEPARENT];
}

/** Reads header-like maps: values may be strings, string arrays (Node HTTP) or Buffers (gRPC binary). */
const metadataGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const v = carrier[key] ?? carrier[key.toLowerCase()];
    if (typeof v === 'string') return v;
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
    return undefined;
  },
};

/**
 * The context carried by a metadata map (`grpc.Metadata#getMap()`, `IncomingMessage#headers`), on top
 * of `base` (the root context by default, so that a server span's parent is the remote caller).
 */
export function extractTraceContext(metadata: Readonly<Record<string, unknown>> | undefined, base: Context = ROOT_CONTEXT): Context {
  if (!metadata) return base;
  try { return propagation.extract(base, metadata as Record<string, unknown>, metadataGetter); } catch { return base; }
}

/** The context of a bare `traceparent` string (e.g. `CallOpts.traceparent`); `base` when absent. */
export function contextFromTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context {
  return traceparent ? extractTraceContext({ [TRACEPARENT]: traceparent }, base) : base;
}

