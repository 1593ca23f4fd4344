/**
 * A whole swarm on this machine for integration tests: runs `swarmpath swarm` as a child process (a
 * DHT node, hosts and the router, each its own OS process), waits for its ready event and for
 * /readyz (recording the status of the first /readyz after the ready event), and stops it with
 * SIGTERM (SIGKILL after a grace). Child logs are kept in memory (and printed when
 * SWARMPATH_TEST_LOGS=1). A swarm left running when the test process exits is killed.
 */
import { spawnSwarmpath, type SwarmpathChild } from '../../router/supervisor/swarmpath-child.ts';
import { waitFor } from './wait-for.ts';

export interface LocalSwarmOptions {
  /** Model package folder (e.g. from synthFixture()). */
  model: string;
  replicas?: number;
  /** `swarm --experts-per-host` (default: the swarm's own default). */
  expertsPerHost?: number;
  spare?: number;
  apiKeys?: string[];
  /** Extra flags for every host / the router (`--flag=value` form). */
  hostArgs?: string[];
  routerArgs?: string[];
  /** Longest wait for the swarm to be ready, ms (default 120000). */
  readyTimeoutMs?: number;
}

export interface SwarmHost {
  pid: number;
  peerId: string;
  grpc: string;
  experts: string[];
}

export interface LocalSwarm {
  /** Base URL of the router. */
  readonly http: string;
  readonly bootstrap: string[];
  readonly hosts: SwarmHost[];
  /** Status of the first GET /readyz sent after the swarm's ready event (the swarm promises 200). */
  readonly readyzAtReady: number;
  /** Pid of the `swarmpath swarm` process. */
  readonly pid: number;
  readonly routerPid: number;
  /** Log lines of every process so far. */
  readonly logs: string[];
  /** Events the swarm process printed so far (ready, restarted, …). */
  readonly events: Record<string, unknown>[];
  /** Resolves the first event (already printed or to come) that `match` accepts; rejects after `timeoutMs`. */
  waitForEvent(match: (ev: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Headers with the first API key (when keys are configured). */
  readonly authHeaders: Record<string, string>;
  /** Kills the host process serving as `peerId` (SIGKILL by default); returns it. */
  killHost(peerId: string, signal?: NodeJS.Signals): SwarmHost;
  /** SIGTERM to the swarm; resolves its exit code once every process is gone. */
  stop(): Promise<number | null>;
}

const running = new Set<SwarmpathChild>();
process.on('exit', () => { for (const c of running) try { c.process.kill('SIGKILL'); } catch { /* gone */ } });

export async function startLocalSwarm(o: LocalSwarmOptions): Promise<LocalSwarm> {
  const logs: string[] = [];
  const events: Record<string, unknown>[] = [];
  const eventWaiters = new Set<(ev: Record<string, unknown>) => void>();
  const echo = process.env.SWARMPATH_TEST_LOGS === '1';
  const args = ['swarm', '--model', o.model, '--replicas', String(o.replicas ?? 2), '--spare', String(o.spare ?? 0),
    '--http-listen', '127.0.0.1:0', '--stop-grace-s', '5',
    ...(o.expertsPerHost !== undefined ? ['--experts-per-host', String(o.expertsPerHost)] : []),
    ...(o.apiKeys ?? []).flatMap((k) => ['--api-key', k]),
    ...(o.hostArgs ?? []).map((a) => `--host-arg=${a}`),
    ...(o.routerArgs ?? []).map((a) => `--router-arg=${a}`)];
  const child = spawnSwarmpath({
    name: 'swarm', args, readyTimeoutMs: o.readyTimeoutMs ?? 120_000,
    onLog: (line) => { logs.push(line); if (echo) process.stderr.write(`${line}\n`); },
    onEvent: (ev) => { events.push(ev); for (const w of eventWaiters) w(ev); },
  });
  running.add(child);
  void child.exited.then(() => running.delete(child));
  let ev;
  try {
    ev = await child.ready;
  } catch (err) {
    await child.stop(2000);
    throw new Error(`${(err as Error).message}\n--- last logs ---\n${logs.slice(-40).join('\n')}`, { cause: err });
  }
  const hosts = (ev.hosts as SwarmHost[]).map((h) => ({ ...h }));
  const http = ev.http as string;
  const authHeaders: Record<string, string> = o.apiKeys?.length ? { authorization: `Bearer ${o.apiKeys[0]}` } : {};
  const readyzAtReady = await waitReady(http, authHeaders, o.readyTimeoutMs ?? 120_000);
  return {
    http,
    readyzAtReady,
    bootstrap: ev.bootstrap as string[],
    hosts,
    pid: child.pid,
    routerPid: (ev.router as { pid: number }).pid,
    logs,
    events,
    waitForEvent(match, timeoutMs) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { eventWaiters.delete(w); reject(new Error(`no matching event after ${timeoutMs} ms; events: ${JSON.stringify(events.map((e) => e.event))}`)); }, timeoutMs);
        const w = (ev: Record<string, unknown>) => { if (match(ev)) { clearTimeout(timer); eventWaiters.delete(w); resolve(ev); } };
        eventWaiters.add(w);
      });
    },
    authHeaders,
    killHost(peerId, signal = 'SIGKILL') {
      const h = hosts.find((x) => x.peerId === peerId);
      if (!h) throw new Error(`no host ${peerId} in this swarm`);
      process.kill(h.pid, signal);
      return h;
    },
    async stop() {
      await child.stop(20_000);
      return (await child.exited).code;
    },
  };
}

/** Polls /readyz until 200 (every expert has a verified replica), bounded; resolves the first status (0: no answer). */
async function waitReady(http: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  let last = '';
  let first: number | undefined;
  await waitFor(() => `swarm at ${http} to be ready (last /readyz: ${last})`, async () => {
    try {
      const r = await fetch(`${http}/readyz`, { headers, signal: AbortSignal.timeout(10_000) });
      first ??= r.status;
      last = `${r.status} ${await r.text()}`;
      return r.status === 200;
    } catch (err) {
      first ??= 0;
      last = String(err);
      return false;
    }
  }, { timeoutMs, intervalMs: 250 });
  return first as number;
}
