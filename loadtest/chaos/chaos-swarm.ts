/**
 * The swarm a chaos run works on: `swarmpath swarm` as a child process (DHT node, hosts, router),
 * plus the hosts this run restarts after killing them. Knows every host process it can kill: the
 * swarm's own (from its ready event) and the restarted ones. A restart starts a host as the killed
 * one was started (`--expert` of its first expert, or `--auto` for a spare), with the same flags.
 */
import { spawnSwarmpath, type SwarmpathChild } from '../../router/supervisor/swarmpath-child.ts';

export interface ChaosHost {
  pid: number;
  peerId: string;
  grpc: string;
  /** Experts it was started with (it may have migrated since). */
  startedWith: readonly string[];
  auto: boolean;
  alive: boolean;
  /** When this run started it (restarts), else undefined. */
  child?: SwarmpathChild;
}

export interface ChaosSwarmInit {
  model: string;
  replicas: number;
  spare: number;
  /**
   * Most experts per pinned host process (`swarm --experts-per-host`; default 1 here, not the swarm's
   * 4: a chaos kill of "every replica of one expert" should take that expert alone).
   */
  expertsPerHost?: number;
  /** Extra flags for every host (e.g. --rebalance, --rebalance-interval-s=2). */
  hostArgs?: readonly string[];
  routerArgs?: readonly string[];
  /** Where child logs go (default: dropped). */
  onLog?(line: string): void;
  readyTimeoutMs?: number;
}

export interface ChaosSwarm {
  readonly http: string;
  readonly bootstrap: readonly string[];
  readonly experts: readonly string[];
  hosts(): readonly ChaosHost[];
  /** SIGKILLs a host process. */
  kill(h: ChaosHost): void;
  /** Starts a host like `h` was started; resolves once it is ready. */
  restart(h: ChaosHost): Promise<ChaosHost>;
  stop(): Promise<void>;
}

export async function startChaosSwarm(init: ChaosSwarmInit): Promise<ChaosSwarm> {
  const onLog = init.onLog ?? (() => {});
  const hostArgs = [...(init.hostArgs ?? [])];
  const swarm = spawnSwarmpath({
    name: 'swarm', readyTimeoutMs: init.readyTimeoutMs ?? 180_000, onLog,
    args: ['swarm', '--model', init.model, '--replicas', String(init.replicas), '--spare', String(init.spare),
      '--experts-per-host', String(init.expertsPerHost ?? 1),
      '--http-listen', '127.0.0.1:0', '--stop-grace-s', '3',
      ...hostArgs.map((a) => `--host-arg=${a}`), ...(init.routerArgs ?? []).map((a) => `--router-arg=${a}`)],
  });
  let ev;
  try {
    ev = await swarm.ready;
  } catch (err) {
    await swarm.stop(2000);
    throw err;
  }
  const listed = ev.hosts as { pid: number; peerId: string; grpc: string; experts: string[] }[];
  const fixedCount = listed.length - init.spare;
  const hosts: ChaosHost[] = listed.map((h, i) => ({ pid: h.pid, peerId: h.peerId, grpc: h.grpc, startedWith: h.experts, auto: i >= fixedCount, alive: true }));
  const experts = [...new Set(listed.slice(0, fixedCount).flatMap((h) => h.experts))].sort();
  const bootstrap = ev.bootstrap as string[];
  const http = String(ev.http).replace(/\/+$/, '');
  await waitReadyz(http, init.readyTimeoutMs ?? 180_000);

  return {
    http, bootstrap, experts,
    hosts: () => hosts,
    kill(h) {
      h.alive = false;
      try { process.kill(h.pid, 'SIGKILL'); } catch { /* already gone */ }
    },
    async restart(h) {
      const what = h.auto ? ['--auto'] : h.startedWith.flatMap((e) => ['--expert', e]);
      const child = spawnSwarmpath({
        name: `host restart of ${h.peerId.slice(-6)}`, onLog, readyTimeoutMs: init.readyTimeoutMs ?? 180_000,
        args: ['host', '--model', init.model, ...what, ...bootstrap.flatMap((b) => ['--bootstrap', b]), ...hostArgs],
      });
      const r = await child.ready;
      const nh: ChaosHost = { pid: child.pid, peerId: String(r.peerId), grpc: String(r.grpc), startedWith: h.startedWith, auto: h.auto, alive: true, child };
      void child.exited.then(() => { nh.alive = false; });
      hosts.push(nh);
      return nh;
    },
    async stop() {
      await Promise.all(hosts.filter((h) => h.child && h.alive).map((h) => h.child!.stop(3000)));
      await swarm.stop(20_000);
      for (const h of hosts) if (h.alive) { try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
}

/** Polls /readyz until every expert has a live replica. */
export async function waitReadyz(http: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(5000) });
      last = `${r.status}`;
      if (r.status === 200) return;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${http}/readyz not 200 after ${timeoutMs} ms (${last})`);
}
