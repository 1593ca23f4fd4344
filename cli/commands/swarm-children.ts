/**
 * The processes of `swarmpath swarm` (./swarm.ts): a group that spawns children, notices their deaths
 * and stops them in order, and the router's supervisor, which restarts a dead router on the same
 * HTTP address with a back-off.
 */
import type { Logger } from '../../shared/log.ts';
import { emitEvent } from '../../shared/log.ts';
import { spawnSwarmpath, type ReadyEvent, type SwarmpathChild } from '../../router/supervisor/swarmpath-child.ts';

export interface ChildGroup {
  /** Spawns a child; when it dies unexpectedly, `onDeath` runs (default: log it and go on without it). */
  start(name: string, args: string[], opts?: { onDeath?: () => void; env?: NodeJS.ProcessEnv }): SwarmpathChild;
  /** Stops every child: the router first (it drains requests), then hosts, then the DHT node. */
  stopAll(): Promise<void>;
  /** Runs `f` when the group starts stopping (a pending restart is cancelled there). */
  onStop(f: () => void): void;
  readonly size: number;
}

export function childGroup(o: { log: Logger; readyTimeoutMs: number; graceMs: number }): ChildGroup {
  const children: SwarmpathChild[] = [];
  let stopping = false;
  const onStop: (() => void)[] = [];
  return {
    start(name, args, opts = {}) {
      // Every process of this swarm announces a loopback address: they must use each other's.
      const env = { ...process.env, ...opts.env, SWARMPATH_ALLOW_PRIVATE_ADDRESSES: '1' };
      const child = spawnSwarmpath({ name, args, readyTimeoutMs: o.readyTimeoutMs, env });
      children.push(child);
      void child.exited.then(({ code, signal }) => {
        children.splice(children.indexOf(child), 1);
        if (stopping) return;
        if (opts.onDeath) {
          o.log.warn(`${name} (pid ${child.pid}) exited unexpectedly`, { code, signal });
          opts.onDeath();
        } else {
          o.log.warn(`${name} (pid ${child.pid}) exited unexpectedly; the swarm goes on without it`, { code, signal });
        }
      });
      return child;
    },
    async stopAll() {
      stopping = true;
      for (const f of onStop) f();
      const router = children.filter((c) => c.name === 'router');
      const dht = children.filter((c) => c.name === 'dht');
      const hosts = children.filter((c) => !router.includes(c) && !dht.includes(c));
      await Promise.all(router.map((c) => c.stop(o.graceMs)));
      await Promise.all(hosts.map((c) => c.stop(o.graceMs)));
      await Promise.all(dht.map((c) => c.stop(o.graceMs)));
    },
    onStop: (f) => { onStop.push(f); },
    get size() { return children.length; },
  };
}

export interface RouterSupervisorInit {
  group: ChildGroup;
  log: Logger;
  /** Arguments of `swarmpath router` except --http-listen and --bootstrap. */
  args: string[];
  /** Where the router listens (its first start may ask for port 0: restarts reuse the port it got). */
  listen: string;
  /** Environment for the router (API keys travel here, not on the command line where `ps` shows them). */
  env: NodeJS.ProcessEnv;
  /** No restarts (--no-restart-router). */
  noRestart: boolean;
  /** Bootstrap addresses for a restart: the DHT node's and every live host's. */
  bootstrapForRestart(): string[];
}

export interface RouterSupervisor {
  /** Starts the first router and resolves its ready event. */
  start(bootstrap: string[]): Promise<{ pid: number; ev: ReadyEvent }>;
}

/**
 * Restarts a router that dies on the same HTTP address, after a back-off of 1 s doubling up to 30 s
 * while it keeps dying within a minute of its start; each restart prints a `restarted` event.
 */
export function routerSupervisor(o: RouterSupervisorInit): RouterSupervisor {
  let listen = o.listen;
  let backoffMs = 0;
  let restarts = 0;
  let timer: NodeJS.Timeout | undefined;
  o.group.onStop(() => clearTimeout(timer));

  const startRouter = (bootstrap: string[]): SwarmpathChild => {
    const startedAt = Date.now();
    const args = ['router', ...o.args, '--http-listen', listen, ...bootstrap.flatMap((ma) => ['--bootstrap', ma])];
    return o.group.start('router', args, {
      env: o.env,
      onDeath: () => {
        if (o.noRestart) {
          o.log.warn('the router is not restarted (--no-restart-router): the API is down');
          return;
        }
        backoffMs = Date.now() - startedAt > 60_000 ? 1000 : Math.min(30_000, Math.max(1000, 2 * backoffMs));
        o.log.warn(`restarting the router in ${backoffMs / 1000} s`);
        timer = setTimeout(() => {
          const next = startRouter(o.bootstrapForRestart());
          next.ready.then((ev) => {
            restarts++;
            o.log.info(`router restarted (pid ${next.pid})`, { http: ev.http, restarts });
            emitEvent('restarted', { role: 'router', pid: next.pid, peerId: ev.peerId, http: ev.http, restarts });
          }, (err: Error) => o.log.error(`router restart failed: ${err.message}`));
        }, backoffMs);
      },
    });
  };

  return {
    async start(bootstrap) {
      const router = startRouter(bootstrap);
      const ev = await router.ready;
      listen = new URL(ev.http as string).host; // the port it got, when --http-listen asked for 0
      return { pid: router.pid, ev };
    },
  };
}
