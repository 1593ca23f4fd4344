/**
 * The router's server span for one HTTP request: named `METHOD route` (e.g. `POST /v1/completions`),
 * child of the caller's `traceparent` header when there is one. It ends when both the handler has
 * resolved and the response is done (finished or the client went away), recording the status code
 * (ERROR for 5xx). A no-op while tracing is off.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { extractTraceContext, recordError, tracer, SpanKind } from './trace.ts';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from './attributes.ts';

/** Runs `fn` (the handler of `route`) inside the request's server span. */
export async function traceHttpRequest<T>(req: IncomingMessage, res: ServerResponse, route: string, fn: () => Promise<T>): Promise<T> {
  const method = req.method ?? 'GET';
  const parent = extractTraceContext(req.headers);
  const span = tracer().startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_HTTP_ROUTE]: route } }, parent);
  if (!span.isRecording()) {
    span.end();
    return fn();
  }
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    const end = (): void => {
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${res.statusCode}` });
      span.end();
    };
    if (res.writableFinished || res.destroyed) end();
    else res.once('close', end);
  }
}
