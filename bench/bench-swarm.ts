/**
 * The swarm of the load and failover scenarios, built from the real commands (each its own OS
 * process): a DHT node (`swarmpath dht`), `replicas` hosts of each expert of one path
 * (`swarmpath host --expert ID --bootstrap …`) and the router (`swarmpath router`). Only the path's
 * experts are served, so it starts quickly on a small machine; requests must use prompts that route
 * to that path. Ready once `GET /v1/swarm` lists every replica.
 */
import { fileURLToPath } from 'node:url';
import { spawnReady } from './child-process.ts';
import type { ReadyChild } from './child-process.ts';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

export interface SwarmHost { pid: number; peerId: string; grpc: string; experts: string[]; child: ReadyChild }

export interface BenchSwarm {
  /** Base URL of the router's API. */
  readonly http: string;
  readonly path: readonly string[];
  readonly hosts: SwarmHost[];
  readonly router: ReadyChild;
  stop(): Promise<void>;
}

export interface BenchSwarmInit {
  modelDir: string;
  path: readonly string[];
  replicas: number;
  /** Extra `swarmpath host` flags. */
  hostArgs?: readonly string[];
  readyTimeoutMs?: number;
  /** Extra environment for every process (e.g. OTEL_* variables). */
  env?: Readonly<Record<string, string>>;
}

/** Starts DHT node, hosts and router; resolves when the router sees every replica. */
export async function startBenchSwarm(init: BenchSwarmInit): Promise<BenchSwarm> {
  const env = { ...process.env, SWARMPATH_LOG: process.env.SWARMPATH_LOG ?? 'warn', ...init.env };
  const children: ReadyChild[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.slice().reverse().map((c) => c.stop(5000)));
  };
  try {
    const dht = await spawnReady(process.execPath, [MAIN, 'dht'], { name: 'dht', env });
    children.push(dht);
    const bootstrap = String((dht.ready.multiaddrs as string[])[0]);
    const hostJobs = init.path.flatMap((id) => Array.from({ length: init.replicas }, () =>
      spawnReady(process.execPath, [MAIN, 'host', '--model', init.modelDir, '--expert', id, '--bootstrap', bootstrap, ...(init.hostArgs ?? [])],
        { name: `host ${id}`, env, timeoutMs: 120_000 })));
    const settled = await Promise.allSettled(hostJobs);
    for (const s of settled) if (s.status === 'fulfilled') children.push(s.value);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const hosts: SwarmHost[] = settled.map((s) => {
      const c = (s as PromiseFulfilledResult<ReadyChild>).value;
      return { pid: c.pid, peerId: String(c.ready.peerId), grpc: String(c.ready.grpc), experts: c.ready.experts as string[], child: c };
    });
    const router = await spawnReady(process.execPath, [MAIN, 'router', '--model', init.modelDir, '--bootstrap', bootstrap, '--http-listen', '127.0.0.1:0'],
      { name: 'router', env, timeoutMs: 120_000 });
    children.push(router);
    const http = String(router.ready.http).replace(/\/+$/, '');
    await waitForReplicas(http, init.path, init.replicas, init.readyTimeoutMs ?? 60_000);
    return { http, path: init.path, hosts, router, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Polls GET /v1/swarm until each expert of `path` lists `replicas` replicas; rejects after `timeoutMs`. */
async function waitForReplicas(http: string, path: readonly string[], replicas: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(`${http}/v1/swarm`, { signal: AbortSignal.timeout(5000) });
      if (res.ok) {
        const body = await res.json() as { experts?: Record<string, unknown[]> };
        const counts = path.map((id) => body.experts?.[id]?.length ?? 0);
        if (counts.every((n) => n >= replicas)) return;
        last = `replicas ${path.map((id, i) => `${id}=${counts[i]}`).join(' ')}`;
      } else last = `status ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the router did not see ${replicas} replicas of ${path.join(', ')} within ${timeoutMs} ms (${last})`);
}
