/**
 * The router's HTTP API (SPEC.md section 3) on node:http: routing, optional API keys, body limits,
 * admission control (429), OpenAI error bodies, metrics per endpoint and status, client disconnect →
 * the generation's AbortSignal, and a graceful stop that drains in-flight requests.
 *
 * Routes: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, POST /v1/route,
 * GET /v1/swarm, GET /healthz, GET /readyz, GET /metrics, and the dashboard (GET /, its assets and
 * GET /dashboard/stats: ../dashboard/dashboard-routes.ts). Keys (when configured) guard /v1/* and
 * /dashboard/stats. Generation requests (their end, status, latency, tokens, path) also feed the
 * dashboard's stats collector.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomInt } from 'node:crypto';
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
import { DEFAULT_BODY_LIMIT, readJsonObject } from './body.ts';
import { handleCompletion } from './completion-handler.ts';
import { RouteNotFoundError, UnauthorizedError } from './errors.ts';
import { infoRoutes } from './info-handlers.ts';
import { sendError } from './respond.ts';

export interface RouterApiInit {
  /** API keys; none = open. */
  apiKeys?: readonly string[];
  /** Largest request body, bytes (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Generations at once (default 8), waiting (default 32), longest wait ms (default 30000). */
  maxConcurrent?: number;
  maxQueue?: number;
  queueTimeoutMs?: number;
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
  const admission = createAdmission({
    maxConcurrent: init.maxConcurrent ?? 8, maxQueue: init.maxQueue ?? 32, queueTimeoutMs: init.queueTimeoutMs ?? 30_000,
  });
  const model = c.runtime.manifest;
  const stats = c.stats ?? createStatsCollector({}, { clock });
  const needsKey = (path: string): boolean => path.startsWith('/v1/') || path === DASHBOARD_STATS_PATH;
  const deps = {
    modelName: model.name, maxContext: model.dims.max_context, encode: (t: string) => c.runtime.encode(t),
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
    const body = await readJsonObject(req, limit, signal);
    const release = await admission.enter(signal);
    try {
      await handleCompletion(kind, body, res, signal, deps);
    } finally {
      release();
    }
  };
  const routes: Record<string, Record<string, Handler>> = {
    '/v1/completions': { POST: generation('completion') },
    '/v1/chat/completions': { POST: generation('chat') },
    ...infoRoutes({ runtime: c.runtime, pool: c.pool, metricsText: c.metricsText, bodyLimit: limit, clock }),
    ...dashboardRoutes({ runtime: c.runtime, pool: c.pool, stats, keysRequired: keys.enabled, verifying: init.verifyingHosts ?? false }),
  };

  let inflight = 0;
  let draining = false;
  const idle: (() => void)[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = clock();
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
      if (e.code === 'INTERNAL') c.log.error('request failed', { path, error: e.stack ?? e.message });
      if (!res.headersSent && !res.destroyed) sendError(res, e);
      else if (!res.writableEnded) res.end();
      c.metrics.errors.inc({ endpoint, code: e.code });
      return e.http;
    }).then((status) => {
      const code = String(typeof status === 'number' ? status : res.statusCode);
      c.metrics.requests.inc({ endpoint, code });
      c.metrics.requestDuration.observe({ endpoint }, (clock() - t0) / 1000);
      if (GENERATION_ENDPOINTS.has(endpoint)) stats.requestEnded({ status: Number(code), durationMs: clock() - t0, errorCode });
    }).finally(() => {
      inflight--;
      c.metrics.inflight.set({}, inflight);
      if (inflight === 0) for (const f of idle.splice(0)) f();
    });
  };

  // requestTimeout bounds receiving a request (headers and body), not the (streamed) response.
  const server = http.createServer({ keepAliveTimeout: 5000, requestTimeout: 60_000 }, handle);
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
