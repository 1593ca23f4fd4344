/**
 * The router's HTTP API (SPEC.md section 3) on node:http: routing, optional API keys, body limits,
 * fair admission control (429 + Retry-After), OpenAI error bodies (a 5xx carries a fixed message and
 * the request id; its detail goes to the log), metrics per endpoint and status, client disconnect →
 * the generation's AbortSignal, and a graceful stop that drains in-flight requests.
 *
 * The edge towards strangers: a generation request takes (or is refused) its admission slot before
 * its body is read, then the body must arrive within `bodyTimeoutMs`; a refused body is drained within
 * bounds or the connection cut (body.ts). node:http bounds the rest: `headersTimeout`,
 * `requestTimeout` (receiving the whole request only, never the streamed response),
 * `keepAliveTimeout`, `maxConnections`; its parser's refusals and CONNECT are answered by hand
 * (client-error.ts).
 * A client that stops reading is cut off after `writeTimeoutMs` (respond.ts).
 *
 * Routes: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, POST /v1/route,
 * GET /v1/swarm, GET /healthz, GET /readyz, GET /metrics, and the dashboard (GET /, its assets and
 * GET /dashboard/stats: ../dashboard/dashboard-routes.ts). Keys (when configured) guard /v1/* and
 * /dashboard/stats. Generation requests (their end, status, latency, tokens, path) also feed the
 * dashboard's stats collector.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { BadConfigError, SwarmpathError, asSwarmpathError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { RouterMetrics } from '../../shared/telemetry/router-metrics.ts';
import { traceHttpRequest } from '../../shared/telemetry/http-span.ts';
import { createAdmission } from '../admission.ts';
import { DASHBOARD_STATS_PATH, dashboardRoutes } from '../dashboard/dashboard-routes.ts';
import { createStatsCollector, type StatsCollector } from '../dashboard/stats-collector.ts';
import type { Generator } from '../generation.ts';
import type { ReplicaPool } from '../replica-pool.ts';
import type { RouterRuntime } from '../runtime.ts';
import { keyCheck } from './auth.ts';
import { DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT_MS, discardRest, readJsonObject, refuseDeclaredTooLarge } from './body.ts';
import { answerClientError, answerConnect } from './client-error.ts';
import { clientId } from './client-id.ts';
import { handleCompletion } from './completion-handler.ts';
import { RouteNotFoundError, UnauthorizedError } from './errors.ts';
import { infoRoutes } from './info-handlers.ts';
import { DEFAULT_WRITE_TIMEOUT_MS, REQUEST_ID_HEADER, destroyUnlessFinished, sendError } from './respond.ts';

export interface RouterApiInit {
  /** API keys; none = open. */
  apiKeys?: readonly string[];
  /** Largest request body, bytes (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Longest time to receive a body once its request may run, ms (default 10000; then 408). */
  bodyTimeoutMs?: number;
  /** Longest time to receive a request's headers, ms (default 10000; then 408). */
  headersTimeoutMs?: number;
  /** Longest wait for a client to take more of a response, ms (default 30000; then the connection is cut). */
  writeTimeoutMs?: number;
  /** Open connections at most (default 1024); node:http closes more at once. */
  maxConnections?: number;
  /** Generations at once (default 8), waiting (default 32), longest wait ms (default 30000). */
  maxConcurrent?: number;
  maxQueue?: number;
  queueTimeoutMs?: number;
  /** Fair admission (fair-share.ts): waiting per client beyond its share (default 4), slots kept free (default 1). */
  maxQueuePerClient?: number;
  spareSlots?: number;
  /** Longest generation, ms (default 300000). */
  requestTimeoutMs?: number;
  /** Whether the router verifies hosts with their experts' probes (the dashboard's trust column). */
  verifyingHosts?: boolean;
}

export interface RouterApiComponents {
  runtime: Pick<RouterRuntime, 'manifest' | 'encode' | 'route'>;
  generator: Generator;
  pool: Pick<ReplicaPool, 'view' | 'readiness'>;
  metrics: RouterMetrics;
  /** The Prometheus text of GET /metrics. */
  metricsText(): Promise<string>;
  log: Logger;
  clock?: () => number;
  /** Seed for requests without one (default: a random uint32). */
  randomSeed?: () => number;
  /** The dashboard's collector (default: a new one on `clock`); the router also feeds it host records, probes, failovers. */
  stats?: StatsCollector;
}

export interface RouterApi {
  readonly server: http.Server;
  /** Handles one request (also usable without listening, e.g. with an in-memory socket). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Listens; resolves the base URL (`http://127.0.0.1:PORT`). */
  listen(host: string, port: number): Promise<string>;
  /** Stops accepting, waits up to `graceMs` for in-flight requests, then closes every connection. */
  close(graceMs?: number): Promise<void>;
  /** Requests being handled now. */
  readonly inflight: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;

const GENERATION_ENDPOINTS: ReadonlySet<string> = new Set(['/v1/completions', '/v1/chat/completions']);

export function createRouterApi(init: RouterApiInit, c: RouterApiComponents): RouterApi {
  const clock = c.clock ?? Date.now;
  const keys = keyCheck(init.apiKeys ?? []);
  const limit = init.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const bodyLimits = { limitBytes: limit, timeoutMs: init.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS };
  const writeTimeoutMs = init.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
  const queueTimeoutMs = init.queueTimeoutMs ?? 30_000;
  const admission = createAdmission({
    maxConcurrent: init.maxConcurrent ?? 8, maxQueue: init.maxQueue ?? 32, queueTimeoutMs,
    maxQueuePerClient: init.maxQueuePerClient ?? 4, spareSlots: init.spareSlots ?? 1,
  });
  const model = c.runtime.manifest;
  const stats = c.stats ?? createStatsCollector({}, { clock });
  const needsKey = (path: string): boolean => path.startsWith('/v1/') || path === DASHBOARD_STATS_PATH;
  const deps = {
    modelName: model.name, maxContext: model.dims.max_context, vocabSize: model.dims.vocab_size, writeTimeoutMs,
    encode: (t: string) => c.runtime.encode(t),
    route: (tokens: Uint8Array) => {
      const r = c.runtime.route(tokens);
      stats.pathChosen(r.path);
      return r;
    },
    generator: c.generator,
    randomSeed: c.randomSeed ?? (() => randomInt(0, 2 ** 32)), clock, requestTimeoutMs: init.requestTimeoutMs ?? 300_000,
    onUsage: (prompt: number, completion: number) => {
      c.metrics.promptTokens.inc({ model: model.name }, prompt);
      c.metrics.tokensGenerated.inc({ model: model.name }, completion);
      stats.tokens(prompt, completion);
    },
    onFirstText: (endpoint: string, seconds: number) => c.metrics.timeToFirstToken.observe({ endpoint }, seconds),
  };
  const generation = (kind: 'completion' | 'chat'): Handler => async (req, res, signal) => {
    refuseDeclaredTooLarge(req, limit);
    const release = await admission.enter(clientId(keys.match(req.headers.authorization), req.socket.remoteAddress), signal);
    try {
      const body = await readJsonObject(req, bodyLimits, signal);
      await handleCompletion(kind, body, res, signal, deps);
    } finally {
      release();
    }
  };
  const routes: Record<string, Record<string, Handler>> = {
    '/v1/completions': { POST: generation('completion') },
    '/v1/chat/completions': { POST: generation('chat') },
    ...infoRoutes({ runtime: c.runtime, pool: c.pool, metricsText: c.metricsText, body: bodyLimits, clock }),
    ...dashboardRoutes({ runtime: c.runtime, pool: c.pool, stats, keysRequired: keys.enabled, verifying: init.verifyingHosts ?? false }),
  };

  let inflight = 0;
  let draining = false;
  const idle: (() => void)[] = [];
  /** The response in progress on each socket, for clientError (a pipelined request behind it). */
  const responding = new WeakMap<object, ServerResponse>();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = clock();
    const requestId = randomBytes(8).toString('hex');
    res.setHeader(REQUEST_ID_HEADER, requestId);
    responding.set(req.socket, res);
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const endpoint = routes[path] ? path : 'other';
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    inflight++;
    c.metrics.inflight.set({}, inflight);
    let errorCode: string | undefined;
    const run = async (): Promise<void> => {
      const byMethod = routes[path];
      const handler = byMethod?.[method];
      if (!handler) throw new RouteNotFoundError(method, path);
      if (needsKey(path) && !keys.allows(req.headers.authorization)) throw new UnauthorizedError();
      if (draining && path.startsWith('/v1/')) throw new SwarmpathError('UNAVAILABLE', 'the router is shutting down', { retryAfterS: 1 });
      await handler(req, res, abort.signal);
    };
    traceHttpRequest(req, res, endpoint, run).catch((err: unknown) => {
      const e = asSwarmpathError(err);
      errorCode = e.code;
      // The client sees a fixed message and the request id (errors.ts); the detail is here.
      if (e.http >= 500) {
        const original = e.cause instanceof Error ? e.cause : e;
        const detail = { requestId, path, status: e.http, code: e.code, error: e.code === 'INTERNAL' ? original.stack ?? e.message : e.message };
        if (e.code === 'INTERNAL') c.log.error('request failed', detail);
        else c.log.warn('request failed', detail);
      }
      if (!res.headersSent && !res.destroyed) {
        // A stalled body will not be read: say so, rather than keep the connection for a next request.
        if (e.http === 408) res.setHeader('connection', 'close');
        sendError(res, e);
      } else if (!res.writableEnded) res.end();
      c.metrics.errors.inc({ endpoint, code: e.code });
      // A stream that failed after its first event went out as 200.
      return res.headersSent ? res.statusCode : e.http;
    }).then((status) => {
      const code = String(typeof status === 'number' ? status : res.statusCode);
      c.metrics.requests.inc({ endpoint, code });
      c.metrics.requestDuration.observe({ endpoint }, (clock() - t0) / 1000);
      if (GENERATION_ENDPOINTS.has(endpoint)) stats.requestEnded({ status: Number(code), durationMs: clock() - t0, errorCode });
    }).finally(() => {
      inflight--;
      c.metrics.inflight.set({}, inflight);
      if (inflight === 0) for (const f of idle.splice(0)) f();
      // A body nobody read (a refused request): drained within bounds so the client reads its answer.
      discardRest(req, { maxBytes: 4 * limit, timeoutMs: bodyLimits.timeoutMs });
      destroyUnlessFinished(res, writeTimeoutMs);
    });
  };

  const headersTimeoutMs = init.headersTimeoutMs ?? 10_000;
  const server = http.createServer({
    keepAliveTimeout: 5000,
    headersTimeout: headersTimeoutMs,
    // Receiving one whole request: headers, a wait for a slot (a large body waits unread), the body.
    // node:http never applies it to the response, so long streams run on.
    requestTimeout: headersTimeoutMs + queueTimeoutMs + bodyLimits.timeoutMs,
    // How often node checks those two (its default, 30 s, would let a stalled request sit 30 s more).
    connectionsCheckingInterval: Math.min(1000, headersTimeoutMs),
  }, handle);
  server.maxConnections = init.maxConnections ?? 1024;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const res = responding.get(socket);
    answerClientError(err, socket, res !== undefined && res.headersSent && !res.writableFinished);
  });
  server.on('connect', (req: IncomingMessage, socket: Socket) => answerConnect(req.url, socket));
  return {
    server,
    handle,
    get inflight() { return inflight; },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' || err.code === 'EACCES'
          ? new BadConfigError(`--http-listen ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : 'permission denied'}`)
          : err));
        server.listen(port, host, () => {
          server.removeAllListeners('error');
          const a = server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          if (!keys.enabled && !isLoopback(host)) {
            c.log.warn(`the HTTP API listens on ${h}:${a.port} without API keys: anyone who can reach it can use it ` +
              '(set --api-key-file, --api-key or SWARMPATH_API_KEYS)');
          }
          resolve(`http://${h}:${a.port}`);
        });
      });
    },
    async close(graceMs = 30_000) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inflight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => idle.push(resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Whether `host` (an --http-listen host) reaches this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
}
