/**
 * The live dashboard (SPEC.md section 7): `GET /` serves a static page (./static/: HTML, one script,
 * CSS, an icon; no build step), which polls `GET /dashboard/stats` (JSON) every 2 s and draws it.
 *
 * Keys: the page and its assets are served without a key (they hold no data). With API keys
 * configured, /dashboard/stats needs one like /v1/* (server.ts guards it): it lists the hosts'
 * addresses, as GET /v1/swarm does, and which paths recent prompts took. The page then asks for a
 * key, keeps it in sessionStorage and sends it as `Authorization: Bearer`. The JSON is read-only
 * and carries no secret (no key, no prompt, no generated text).
 *
 * Every response carries a strict Content-Security-Policy: the page loads only its own script,
 * style and icon and talks only to its origin; no inline script or style, no external request.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReplicaPool } from '../replica-pool.ts';
import type { RouterRuntime } from '../runtime.ts';
import type { StatsCollector } from './stats-collector.ts';
import { swarmRows } from './swarm-rows.ts';

/** The JSON the page polls. */
export const DASHBOARD_STATS_PATH = '/dashboard/stats';

export const DASHBOARD_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** URL path → file under ./static/ and its content type. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/dashboard/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

export interface DashboardDeps {
  runtime: Pick<RouterRuntime, 'manifest'>;
  pool: Pick<ReplicaPool, 'view'>;
  stats: StatsCollector;
  /** Whether API keys are configured (the page then asks for one). */
  keysRequired: boolean;
  /** Whether the router verifies hosts with their experts' probes. */
  verifying: boolean;
}

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;

export function dashboardRoutes(d: DashboardDeps): Record<string, Record<string, Handler>> {
  const m = d.runtime.manifest;
  const expertIds = m.levels.flatMap((l) => l.experts.map((e) => e.id));
  const routes: Record<string, Record<string, Handler>> = {};
  for (const [path, a] of Object.entries(ASSETS)) {
    let body = readFileSync(new URL(`./static/${a.file}`, import.meta.url));
    // The page learns from its own markup whether to ask for a key before its first poll.
    if (a.file === 'index.html') body = Buffer.from(body.toString('utf8').replace('data-auth="none"', `data-auth="${d.keysRequired ? 'bearer' : 'none'}"`));
    routes[path] = { GET: async (_req, res) => send(res, body, a.type, 'no-cache') };
  }
  routes[DASHBOARD_STATS_PATH] = {
    GET: async (_req, res, signal) => {
      const view = await d.pool.view(expertIds, { signal });
      const body = {
        model: { name: m.name, levels: m.levels.map((l) => ({ name: l.name, experts: l.experts.map((e) => e.id) })) },
        verifying: d.verifying,
        swarm: swarmRows({ manifest: m, view, host: d.stats.host, trust: d.stats.trust, health: d.stats.health, verifying: d.verifying }),
        stats: d.stats.snapshot(),
      };
      send(res, Buffer.from(JSON.stringify(body)), 'application/json', 'no-store');
    },
  };
  return routes;
}

function send(res: ServerResponse, body: Buffer, type: string, cache: string): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': cache, ...SECURITY_HEADERS });
  res.end(body);
}
