/**
 * A small OTLP/HTTP receiver for tests: a node:http server on 127.0.0.1 that accepts
 * `POST /v1/traces` and `POST /v1/metrics` as http/protobuf or http/json (gzip or not) and keeps what
 * arrived, normalised: spans with hex ids, their service and instance from the resource; metric names.
 * The protobuf schema below is the subset of the OTLP messages the tests read, with OTLP's field numbers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlptest;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
message InstrumentationScope { string name = 1; string version = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  repeated Event events = 11; Status status = 15;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Status { string message = 2; int32 code = 3; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message Metric { string name = 1; string description = 2; string unit = 3; }
`;
const root = protobuf.parse(SCHEMA, { keepCase: false }).root;
const TraceReq = root.lookupType('otlptest.ExportTraceServiceRequest');
const MetricsReq = root.lookupType('otlptest.ExportMetricsServiceRequest');

/** A span as received. `kind` is OTLP's (1 internal, 2 server, 3 client). */
export interface ReceivedSpan {
  traceId: string; spanId: string; parentSpanId: string; name: string; kind: number;
  service: string; instanceId: string; attributes: Record<string, unknown>; events: string[];
  contentType: string;
}
export interface ReceivedMetric { name: string; service: string; contentType: string }

export interface OtlpReceiver {
  /** `http://127.0.0.1:port`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  /** Requests received, by path. */
  readonly posts: Record<string, number>;
  /** Resolves once `pred()` holds (checked after every request), rejects after `ms`. */
  until(pred: () => boolean, ms?: number): Promise<void>;
  close(): Promise<void>;
}

type Obj = Record<string, any>;

function hex(v: unknown): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'string') return /^[0-9a-f]*$/i.test(v) ? v.toLowerCase() : Buffer.from(v, 'base64').toString('hex');
  return Buffer.from(v as Uint8Array).toString('hex');
}

function anyValue(v: Obj | undefined): unknown {
  if (!v) return undefined;
  for (const k of ['stringValue', 'boolValue', 'intValue', 'doubleValue']) if (v[k] !== undefined) return k === 'intValue' ? Number(v[k]) : v[k];
  return undefined;
}

function attrs(list: Obj[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const posts: Record<string, number> = {};
  const waiters = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      posts[path] = (posts[path] ?? 0) + 1;
      const contentType = String(req.headers['content-type'] ?? '');
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const json = contentType.includes('json');
      try {
        if (path === '/v1/traces') {
          const msg: Obj = json ? JSON.parse(body.toString('utf8')) : TraceReq.toObject(TraceReq.decode(body), { longs: String, defaults: false });
          for (const rs of msg.resourceSpans ?? []) {
            const r = attrs(rs.resource?.attributes);
            for (const ss of rs.scopeSpans ?? []) {
              for (const s of ss.spans ?? []) {
                spans.push({
                  traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), name: s.name, kind: Number(s.kind ?? 0),
                  service: String(r['service.name']), instanceId: String(r['service.instance.id']),
                  attributes: attrs(s.attributes), events: (s.events ?? []).map((e: Obj) => e.name), contentType,
                });
              }
            }
          }
        } else if (path === '/v1/metrics') {
          const msg: Obj = json ? JSON.parse(body.toString('utf8')) : MetricsReq.toObject(MetricsReq.decode(body), { defaults: false });
          for (const rm of msg.resourceMetrics ?? []) {
            const r = attrs(rm.resource?.attributes);
            for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) metrics.push({ name: m.name, service: String(r['service.name']), contentType });
          }
        } else {
          res.writeHead(404).end();
          return;
        }
      } catch (err) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
        return;
      }
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : Buffer.alloc(0));
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans, metrics, posts,
    until(pred, ms = 15000) {
      if (pred()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = (): void => { if (pred()) { clearTimeout(timer); waiters.delete(check); resolve(); } };
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`OTLP receiver: condition not met in ${ms} ms; got ${spans.length} spans, ${metrics.length} metrics`)); }, ms);
        waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
