/**
 * Serving the metrics registry over HTTP: `metricsHandler` answers one request (the router mounts
 * it at `GET /metrics`), `startMetricsServer` is a host's `--metrics-listen` endpoint (127.0.0.1 by
 * default; `GET /metrics` and `GET /healthz`, 404 otherwise).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { MetricsRegistry } from './metric-types.ts';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.ts';

/** Writes the registry as Prometheus text to `res` (500 with a one-line body if collection fails). */
export async function metricsHandler(reg: MetricsRegistry, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const body = await reg.text();
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' });
    res.end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Listens on `host:port` (port 0 picks one) and serves `reg`. */
export async function startMetricsServer(init: { host?: string; port: number; registry: MetricsRegistry; log: Logger }): Promise<MetricsServer> {
  const host = init.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') { void metricsHandler(init.registry, req, res); return; }
    if (req.method === 'GET' && path === '/healthz') { res.writeHead(200).end('ok\n'); return; }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(init.port, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
  init.log.info('metrics listening', { url });
  return {
    url, port,
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
