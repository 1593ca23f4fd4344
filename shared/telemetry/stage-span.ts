/**
 * One span per stage session, for long generations: a router's `stage L0.3` span (CLIENT) or a
 * host's `Session L0.3` span (SERVER) lives from session open to close. Prefill is recorded as
 * attributes; decode steps are aggregated, not one span or event per token: every `batchSteps`
 * steps one `decode.batch` event (steps, total and max ms), and on end the totals as attributes.
 * Retries, failovers and replays are events. While tracing is off, `startStageSpan` returns a shared
 * no-op whose methods do nothing; for a trace that is not sampled, a no-op that still carries the
 * traceparent (flags 00), so that hosts honour the decision.
 */
import { context, trace, isSpanContextValid, SpanKind, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Attributes, Context, Span } from '@opentelemetry/api';
import { currentTraceparent, recordError, tracer } from './trace.ts';

export interface StageSpan {
  /** Context holding this span: parent of child spans, source of the traceparent sent onwards. */
  readonly context: Context;
  /** This span's W3C traceparent (undefined while tracing is off). */
  readonly traceparent: string | undefined;
  /** The prompt's positions went through in one step: `tokens` positions, `ms` wall time. */
  prefill(tokens: number, ms: number): void;
  /** One decode step of `ms` wall time. */
  decode(ms: number): void;
  /** A notable moment (`retry`, `failover`, `replay`) with attributes. */
  event(name: string, attrs?: Attributes): void;
  /** Ends the span (ERROR status when `err` is given). Idempotent. */
  end(err?: unknown): void;
}

export interface StageSpanOpts {
  kind?: SpanKind;
  /** Parent context; the active context by default. */
  parent?: Context;
  /** Decode steps per `decode.batch` event (default 64). */
  batchSteps?: number;
}

const NOOP: StageSpan = Object.freeze({
  context: ROOT_CONTEXT, traceparent: undefined,
  prefill() {}, decode() {}, event() {}, end() {},
});

/** Starts a stage-session span named `name` (e.g. `stage L0.3`). */
export function startStageSpan(name: string, attrs: Attributes, opts: StageSpanOpts = {}): StageSpan {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind ?? SpanKind.CLIENT, attributes: attrs }, parent);
  if (!span.isRecording()) {
    span.end();
    if (!isSpanContextValid(span.spanContext())) return NOOP; // tracing off
    // Not sampled: record nothing, but pass the decision on (a traceparent with flags 00).
    const ctx = trace.setSpan(parent, span);
    return { ...NOOP, context: ctx, traceparent: currentTraceparent(ctx) };
  }
  return recordingStageSpan(span, trace.setSpan(parent, span), opts.batchSteps ?? 64);
}

function recordingStageSpan(span: Span, ctx: Context, batchSteps: number): StageSpan {
  let steps = 0, totalMs = 0, maxMs = 0;
  let batch = 0, batchMs = 0, batchMax = 0;
  let ended = false;
  const flushBatch = (): void => {
    if (batch === 0) return;
    span.addEvent('decode.batch', {
      'swarmpath.steps': batch, 'swarmpath.first_step': steps - batch, 'swarmpath.ms_sum': round(batchMs), 'swarmpath.ms_max': round(batchMax),
    });
    batch = 0; batchMs = 0; batchMax = 0;
  };
  return {
    context: ctx,
    traceparent: currentTraceparent(ctx),
    prefill(tokens, ms) {
      if (ended) return;
      span.setAttributes({ 'swarmpath.prefill.tokens': tokens, 'swarmpath.prefill.ms': round(ms) });
    },
    decode(ms) {
      if (ended) return;
      steps++; totalMs += ms; if (ms > maxMs) maxMs = ms;
      batch++; batchMs += ms; if (ms > batchMax) batchMax = ms;
      if (batch >= batchSteps) flushBatch();
    },
    event(name, attrs) {
      if (!ended) span.addEvent(name, attrs);
    },
    end(err) {
      if (ended) return;
      ended = true;
      try {
        flushBatch();
        span.setAttributes({ 'swarmpath.decode.steps': steps, 'swarmpath.decode.ms_total': round(totalMs), 'swarmpath.decode.ms_max': round(maxMs) });
        if (err !== undefined) recordError(span, err);
      } finally {
        span.end();
      }
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
