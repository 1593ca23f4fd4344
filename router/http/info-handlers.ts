/**
 * The read-only endpoints: GET /v1/models, POST /v1/route, GET /v1/swarm, GET /healthz, GET /readyz,
 * GET /metrics. /readyz answers 200 only when every expert of the model has a replica that may get
 * work now: live and, when the router verifies hosts, past its manifest probe (ReplicaPool.readiness);
 * else 503. Its body is `{ready, missing}` either way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROMETHEUS_CONTENT_TYPE } from '../../shared/telemetry/metrics.ts';
import type { ReplicaPool } from '../replica-pool.ts';
import type { RouterRuntime } from '../runtime.ts';
import { readJsonObject } from './body.ts';
import type { BodyLimits } from './body.ts';
import { parseRoute } from './completion-request.ts';
import { sendJson, sendText } from './respond.ts';

export interface InfoDeps {
  runtime: Pick<RouterRuntime, 'manifest' | 'encode' | 'route'>;
  pool: Pick<ReplicaPool, 'view' | 'readiness'>;
  metricsText(): Promise<string>;
  body: BodyLimits;
  clock(): number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;

export function infoRoutes(d: InfoDeps): Record<string, Record<string, Handler>> {
  const m = d.runtime.manifest;
  const expertIds = m.levels.flatMap((l) => l.experts.map((e) => e.id));
  const createdS = Math.floor(d.clock() / 1000);
  return {
    '/v1/models': {
      GET: async (_req, res) => sendJson(res, 200, {
        object: 'list',
        data: [{ id: m.name, object: 'model', created: createdS, owned_by: 'swarmpath', max_context: m.dims.max_context }],
      }),
    },
    '/v1/route': {
      POST: async (req, res, signal) => {
        const { prompt } = parseRoute(await readJsonObject(req, d.body, signal));
        const r = d.runtime.route(d.runtime.encode(prompt));
        sendJson(res, 200, { path: r.path, cluster: r.cluster, distances: r.distances });
      },
    },
    '/v1/swarm': {
      GET: async (_req, res, signal) => sendJson(res, 200, { model: m.name, experts: await d.pool.view(expertIds, { signal }) }),
    },
    '/healthz': {
      GET: async (_req, res) => sendJson(res, 200, { status: 'ok' }),
    },
    '/readyz': {
      GET: async (_req, res, signal) => {
        const { ready, missing } = await d.pool.readiness(expertIds, { signal });
        sendJson(res, ready ? 200 : 503, { ready, missing });
      },
    },
    '/metrics': {
      GET: async (_req, res) => sendText(res, 200, await d.metricsText(), PROMETHEUS_CONTENT_TYPE),
    },
  };
}
