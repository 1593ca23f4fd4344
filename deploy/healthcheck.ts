/**
 * `node deploy/healthcheck.ts [URL]`: the container health check of the swarmpath image (Dockerfile
 * HEALTHCHECK), one script for every role. Exits 0 when the process answers, 1 when not (within
 * 4 s). URL, or else the HEALTHCHECK_URL environment variable, or else the router's liveness:
 *
 *   http://127.0.0.1:8080/healthz   router (`--http-listen`; `/readyz` is 200 only when every expert
 *                                   has a live replica) and `swarm`
 *   http://127.0.0.1:9464/healthz   host: served by `--metrics-listen`, which a host opens only once it
 *                                   serves and is announced (cli/commands/host.ts)
 *   tcp://127.0.0.1:4001            `dht`: it has no HTTP endpoint, so its libp2p port accepting a
 *                                   TCP connection is the check
 *
 * http(s) URLs pass on any 2xx answer; tcp URLs on an accepted connection.
 */
import { connect } from 'node:net';

export const DEFAULT_URL = 'http://127.0.0.1:8080/healthz';
const TIMEOUT_MS = 4_000;

/** Whether `url` answers within `timeoutMs`. Never throws. */
export async function healthy(url: string, timeoutMs = TIMEOUT_MS): Promise<boolean> {
  let u: URL;
  try { u = new URL(url); } catch { return false; }
  if (u.protocol === 'tcp:') return tcpOpen(u.hostname, Number(u.port), timeoutMs);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  try {
    const res = await fetch(u, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!Number.isInteger(port) || port <= 0) { resolve(false); return; }
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port, timeout: timeoutMs });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const url = process.argv[2] || process.env.HEALTHCHECK_URL || DEFAULT_URL;
  process.exitCode = (await healthy(url)) ? 0 : 1;
}
