/**
 * `swarmpath swarm [--model DIR] [--replicas N] [--experts-per-host K] [--spare N] [--http-listen H:P]`
 * (= `npm start`): the whole network on one machine, each part its own OS process: a DHT node
 * (`swarmpath dht`), pinned `swarmpath host --expert ID… --rebalance` processes that together hold N
 * replicas of every expert, at most K experts each, the replicas of one expert on distinct processes
 * (placement: ./swarm-plan.ts), `--spare` `swarmpath host --auto` processes, and the router.
 * Waits for every ready event and then for the router's GET /readyz to answer 200 (a replica of every
 * expert verified), bounded by --ready-timeout-s; only then prints ONE ready event (role `swarm`) and
 * a line on stderr with a first request to try. A host that dies later is logged and left dead (the
 * swarm heals: spares migrate, the router fails over). A router that dies is restarted on the same
 * HTTP address (it is the API: without it nothing is served), bootstrapping from the DHT node and the
 * live hosts, after a back-off of 1 s, doubling up to 30 s while it keeps dying within a minute of its
 * start; each restart prints a `restarted` event. SIGINT/SIGTERM stop every child (SIGTERM, then
 * SIGKILL after a grace) and resolve 0. A child that fails to start, or a router not ready in time,
 * stops the whole swarm (exit 1).
 */
import { createServer } from 'node:net';
import { parseFlags, helpText, parseHostPort, type FlagSpecs } from '../../shared/cli-args.ts';
import { BadConfigError } from '../../shared/errors.ts';
import { createLogger, emitEvent } from '../../shared/log.ts';
import { loadPackage } from '../../shared/model/package.ts';
import type { ReadyEvent, SwarmpathChild } from '../../router/supervisor/swarmpath-child.ts';
import { waitReadyz } from '../../router/supervisor/wait-readyz.ts';
import { planHosts } from './swarm-plan.ts';
import { childGroup, routerSupervisor } from './swarm-children.ts';

const USAGE = 'swarmpath swarm [--model DIR] [--replicas N] [--experts-per-host K] [--spare N] [--http-listen H:P]';

export const FLAGS = {
  model: { kind: 'string', help: 'model package folder', env: 'SWARMPATH_MODEL', default: 'models/swarmpath-tiny' },
  replicas: { kind: 'int', help: 'replicas of every expert, each on its own host process', default: 2, min: 1, max: 16 },
  'experts-per-host': { kind: 'int', help: 'most experts one pinned host process serves (1: a process per replica)', default: 4, min: 1 },
  spare: { kind: 'int', help: 'extra `host --auto` processes (the swarm decides what they serve)', default: 1, min: 0, max: 16 },
  'http-listen': { kind: 'string', help: "HOST:PORT of the router's HTTP API", env: 'SWARMPATH_HTTP_LISTEN', default: '127.0.0.1:8080' },
  'api-key': { kind: 'list', help: 'API key the router accepts (repeatable)', env: 'SWARMPATH_API_KEYS' },
  'start-concurrency': { kind: 'int', help: 'hosts starting at once (staggers start-up on small machines)', default: 8, min: 1 },
  'ready-timeout-s': { kind: 'number', help: "longest wait for a child to be ready, and then for the router's /readyz, seconds", default: 180, min: 1 },
  'stop-grace-s': { kind: 'number', help: 'on stop, wait this long before SIGKILL, seconds', default: 10, min: 0 },
  'host-arg': { kind: 'list', help: 'extra flag passed to every host, e.g. --host-arg=--kv-cache-mb=64 (repeatable)' },
  'router-arg': { kind: 'list', help: 'extra flag passed to the router (repeatable)' },
  'restart-router': { kind: 'boolean', help: 'restart the router when it dies (--no-restart-router leaves it dead)', default: true },
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs;

export async function run(argv: string[]): Promise<number> {
  const { flags: f, args } = parseFlags(argv, FLAGS);
  if (f.help) {
    process.stdout.write(helpText(USAGE, FLAGS));
    return 0;
  }
  if (args.length > 0) throw new BadConfigError(`unexpected argument ${JSON.stringify(args[0])}; usage: ${USAGE}`);
  const http = parseHostPort('http-listen', f['http-listen']);
  await checkPortFree(http.host, http.port);
  const log = createLogger('swarm');
  const modelDir = f.model;
  const pkg = await loadPackage(modelDir);
  const experts = pkg.manifest.levels.flatMap((l) => l.experts.map((e) => e.id));
  const readyTimeoutMs = f['ready-timeout-s'] * 1000;
  const graceMs = f['stop-grace-s'] * 1000;
  const hostArgs = f['host-arg'] ?? [];
  const group = childGroup({ log, readyTimeoutMs, graceMs });
  let signalled: ((sig: string) => void) | undefined;
  const signal = new Promise<string>((resolve) => { signalled = resolve; });
  const onSignal = (sig: string) => signalled?.(sig);
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  /** Ends the wait for /readyz when a signal comes during start-up. */
  const startAbort = new AbortController();
  void signal.then(() => startAbort.abort());

  try {
    const startup = (async () => {
      const dht = group.start('dht', ['dht']);
      const bootstrap = ((await dht.ready).multiaddrs as string[]) ?? [];
      const boot = bootstrap.flatMap((ma) => ['--bootstrap', ma]);
      // --rebalance: a pinned host too moves to an expert that lost every host (SPEC.md section 1);
      // `--host-arg=--no-rebalance` (later on the line, so it wins) pins them.
      const plan = planHosts(experts, f.replicas, f['experts-per-host']).map((ids, i) => ({
        name: `host ${i + 1}`, args: ['host', '--model', modelDir, ...ids.flatMap((id) => ['--expert', id]), '--rebalance', ...boot, ...hostArgs],
      }));
      for (let s = 1; s <= f.spare; s++) plan.push({ name: `host auto#${s}`, args: ['host', '--model', modelDir, '--auto', ...boot, ...hostArgs] });
      log.info(`starting ${plan.length} hosts for ${experts.length} experts of ${pkg.manifest.name}`,
        { replicas: f.replicas, expertsPerHost: f['experts-per-host'], spare: f.spare });
      const hosts = await startLimited(plan, f['start-concurrency'], (p) => group.start(p.name, p.args));
      const keys = f['api-key'] ?? [];
      const router = await routerSupervisor({
        group, log, listen: f['http-listen'], noRestart: !f['restart-router'],
        args: ['--model', modelDir, ...(f['router-arg'] ?? [])],
        // The keys reach the router through its environment: a command line is visible to every user in `ps`.
        env: keys.length > 0 ? { SWARMPATH_API_KEYS: keys.join(',') } : {},
        // From the DHT node and every live host: a dead DHT node does not strand a new router.
        bootstrapForRestart: () => [...bootstrap, ...hosts.filter((h) => h.child.alive).flatMap((h) => (h.ev.multiaddrs as string[] | undefined) ?? [])],
      }).start(bootstrap);
      log.info('the router is up; waiting until it has verified a replica of every expert (GET /readyz)');
      await waitReadyz({ http: router.ev.http as string, deadlineMs: Date.now() + readyTimeoutMs, signal: startAbort.signal });
      return { bootstrap, hosts, router: router.ev, dhtPid: dht.pid, routerPid: router.pid };
    })();
    const first = await Promise.race([startup, signal.then((s) => s)]);
    if (typeof first === 'string') {
      log.info(`${first} during start-up: stopping`);
      await group.stopAll();
      return 0;
    }
    const { bootstrap, hosts, router } = first;
    emitEvent('ready', {
      role: 'swarm', http: router.http, bootstrap, multiaddrs: bootstrap, model: pkg.manifest.name,
      hosts: hosts.map(({ child, ev }) => ({ pid: child.pid, peerId: ev.peerId, grpc: ev.grpc, experts: ev.experts })),
      router: { pid: first.routerPid, peerId: router.peerId }, dht: { pid: first.dhtPid },
    });
    process.stderr.write(`\nswarmpath: ${hosts.length} hosts serve ${pkg.manifest.name}; the API is at ${router.http}\n` +
      `  try: curl -s ${router.http}/v1/completions -H 'content-type: application/json' ` +
      `-d '{"model":"${pkg.manifest.name}","prompt":"Once upon a time","max_tokens":64,"seed":1}'\n` +
      `  or:  npx swarmpath generate "Once upon a time" --url ${router.http} --stream\n\n`);
    const sig = await signal;
    log.info(`${sig}: stopping ${group.size} processes`);
    await group.stopAll();
    return 0;
  } catch (err) {
    log.error('start-up failed; stopping every process', { error: err instanceof Error ? err.message : String(err) });
    await group.stopAll();
    return 1;
  }
}

/** Fails fast (before starting 17 processes) when the router's address is taken. */
async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => reject(new BadConfigError(`--http-listen ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the address is in use' : err.message}`)));
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

/** Starts children at most `limit` at a time (the next when one is ready); resolves them all ready. */
async function startLimited<P>(plan: P[], limit: number, spawnOne: (p: P) => SwarmpathChild):
  Promise<{ child: SwarmpathChild; ev: ReadyEvent }[]> {
  const out: { child: SwarmpathChild; ev: ReadyEvent }[] = new Array(plan.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const child = spawnOne(plan[i]);
      out[i] = { child, ev: await child.ready };
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, plan.length) }, worker));
  return out;
}
