/**
 * The `scale` scenario (issue 10; SPEC.md section 6): hundreds of simulated hosts (bench/scale-host.ts:
 * real libp2p kad-dht nodes, the real announcer, discovery, swarm view and rebalancing; a stand-in for
 * the model) spread over `workers` processes (bench/scale-worker.ts), on loopback TCP. It measures
 * - `scale_discover_ms`: a router-like DHT client joining the settled swarm until it knows a live
 *   record of every expert;
 * - `scale_rpcs_per_host_min`: control-plane messages (libp2p streams opened: DHT RPCs, pings,
 *   identify; plus Info calls) sent per host per minute in steady state, at the full size and
 *   (`_small`) at a quarter of it;
 * - `scale_heal_s`: after 20 % of the hosts crash at once (every holder of some experts among them),
 *   the time until every expert is served again; `scale_moves` (moves made until the swarm settles)
 *   against `scale_moves_min` (the fewest that restore every expert to its target replicas), and
 *   `scale_settled` (no move in the last settle window), `scale_flaps` ((host, expert) pairs that
 *   changed twice or more after the crash: 0 = no oscillation) and `scale_last_change_s` (when the
 *   holder sets last changed); `scale_restored_s` (the time until every expert is back at its target
 *   replicas; null when not within the heal timeout) and `scale_short_experts` (experts below target at
 *   the end of the settle window: a move count under `scale_moves_min` means some are).
 * - `scale_newcomer_ms`: an `--auto` newcomer's join decision from a fresh DHT client in the settled swarm
 *   (expert-host/rebalancing/join-view.ts: a first view, then every expert looked at; Info answered from
 *   what each host serves now), `scale_newcomer_experts` the experts it looked at, and the holders of the
 *   expert it picked against the fewest any expert had (`scale_newcomer_pick_holders`, `_min_holders`).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createDiscovery, type DhtDiscovery } from '../shared/dht/discovery.ts';
import { FIRST_VIEW, firstView } from '../shared/dht/first-view.ts';
import { UnavailableError } from '../shared/errors.ts';
import { joinView } from '../expert-host/rebalancing/join-view.ts';
import { chooseJoin } from '../expert-host/rebalancing/host-rebalancing.ts';
import { createSwarmNode, type SwarmNode } from '../shared/dht/node.ts';
import { createRpcCounter } from '../shared/dht/rpc-counter.ts';
import type { Logger } from '../shared/log.ts';
import { silentLogger } from '../shared/log.ts';
import type { HostInfo } from '../shared/transport-types.ts';
import { SIM_TIMEOUTS, type ScaleSettings } from './scale-host.ts';
import { HolderTimeline } from './scale-timeline.ts';
import type { HostSnapshot, LocalInfos, ScaleReply, ScaleRequest, WorkerUsage } from './scale-worker.ts';

export interface ScaleSizes {
  hosts: number;
  levels: number[];
  targetReplicas: number;
  intervalMs: number;
  recordTtlS: number;
  /** Steady-state window over which messages are counted, ms; and the warm-up before it, ms. */
  measureMs: number;
  warmupMs: number;
  /** Longest wait for healing, ms; and the quiet window that counts as settled, ms. */
  healTimeoutMs: number;
  settleMs: number;
  /** Hosts started at once, per worker. */
  startConcurrency: number;
  /** Worker processes the simulated hosts are spread over (one event loop cannot carry 200 libp2p nodes). */
  workers: number;
  /**
   * 0: each swarm's hosts start at once. Otherwise the full swarm's hosts arrive one by one over this
   * long, ms, and the quarter swarm's at the same rate (a quarter of it); the warm-up runs from the last arrival.
   */
  joinMs?: number;
}

export const SCALE_FULL: ScaleSizes = {
  hosts: 200, levels: [16, 16], targetReplicas: 2, intervalMs: 60_000, recordTtlS: 600,
  measureMs: 60_000, warmupMs: 90_000, healTimeoutMs: 90_000, settleMs: 45_000, startConcurrency: 8, workers: 2,
};
export const SCALE_QUICK: ScaleSizes = { ...SCALE_FULL, hosts: 32, levels: [4, 4], measureMs: 20_000, warmupMs: 20_000, intervalMs: 20_000, healTimeoutMs: 40_000, settleMs: 10_000 };

export interface ScaleResult {
  /** How the swarms were started: hosts arriving over this many seconds (0: at once), then this warm-up, s. */
  scale_join_s: number;
  scale_warmup_s: number;
  scale_hosts: number;
  scale_experts: number;
  scale_discover_ms: number;
  /** A newcomer's join decision: ms, experts looked at, holders of its pick and the fewest of any expert (see the file comment). */
  scale_newcomer_ms: number;
  scale_newcomer_experts: number;
  scale_newcomer_pick_holders: number;
  scale_newcomer_min_holders: number;
  scale_rpcs_per_host_min: number;
  scale_rpcs_per_host_min_small: number;
  /**
   * Hosts whose record publications were failing at the end of each rate window (full size, and the
   * quarter size): a rate measured while many fail is a swarm still settling (or collapsing), not a
   * steady state (BENCHMARKS.md, the soak).
   */
  scale_failing_hosts: number;
  scale_failing_hosts_small: number;
  scale_rpcs_by_kind: Record<string, number>;
  scale_heal_s: number;
  /** Seconds from the crash until every expert had its target replicas again (NaN: not within the heal timeout). */
  scale_restored_s: number;
  /** Experts below their target replicas at the end of the settle window. */
  scale_short_experts: number;
  scale_moves: number;
  scale_moves_min: number;
  scale_settled: boolean;
  /** (host, expert) pairs that changed twice or more after the crash: a host joining an expert and leaving it again (scale-timeline.ts). */
  scale_flaps: number;
  /** Seconds from the crash to the last change of any holder set seen (healing and settle window). */
  scale_last_change_s: number;
}

/** A request without its id (the id is added when it is sent). */
type Command = ScaleRequest extends infer R ? (R extends ScaleRequest ? Omit<R, 'id'> : never) : never;

const WORKER = fileURLToPath(new URL('./scale-worker.ts', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A swarm of sim hosts in worker processes around one DHT bootstrap node in this process. */
export interface SimSwarm {
  boot: SwarmNode;
  /** Every live host, as its worker sees it now. */
  snapshot(): Promise<HostSnapshot[]>;
  /** Every live host and each worker process's CPU and memory, at one moment. */
  sample(): Promise<{ hosts: HostSnapshot[]; usage: WorkerUsage[] }>;
  /** Settles when every host has started (at once unless they join over time). */
  joined: Promise<void>;
  /** Crashes the hosts of these indices (no OFFLINE record). */
  crash(indices: readonly number[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the bootstrap node and the workers, and the hosts: all at once, `startConcurrency` per worker,
 * awaited; or, with `joinMs`, arriving one by one over that long while this resolves at once (the
 * swarm's `joined` settles when the last has started).
 */
export async function startSwarm(n: number, experts: readonly string[], s: ScaleSettings, sizes: ScaleSizes, log: Logger, joinMs = 0): Promise<SimSwarm> {
  const boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  const workers: ChildProcess[] = Array.from({ length: sizes.workers }, () => fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const waiting = new Map<number, { resolve: (r: ScaleReply) => void; reject: (e: Error) => void }>();
  const infos: Record<string, HostInfo>[] = workers.map(() => ({}));
  let nextId = 0;
  workers.forEach((w, k) => {
    w.on('message', (m: ScaleReply | LocalInfos) => {
      if ('op' in m) {
        infos[k] = m.infos;
        // Each other worker gets the Info of every host outside itself.
        workers.forEach((other, j) => { if (j !== k && other.connected) other.send({ op: 'infos', infos: Object.assign({}, ...infos.filter((_, i) => i !== j)) }); });
        return;
      }
      const p = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error) p?.reject(new Error(`scale worker: ${m.error}`)); else p?.resolve(m);
    });
    w.once('exit', (code) => { for (const p of waiting.values()) p.reject(new Error(`scale worker exited (${code})`)); waiting.clear(); });
  });
  const ask = (w: ChildProcess, m: Command): Promise<ScaleReply> => new Promise((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, { resolve, reject });
    w.send({ ...m, id });
  });
  const ofWorker = (indices: readonly number[], k: number) => indices.filter((i) => i % workers.length === k);
  const t0 = performance.now();
  const all = Array.from({ length: n }, (_, i) => i);
  const joined = Promise.all(workers.map((w, k) => ask(w, {
    op: 'start', indices: ofWorker(all, k), experts: [...experts], settings: s, bootstrap: boot.multiaddrs(), concurrency: sizes.startConcurrency, joinMs,
  }))).then(() => undefined);
  if (joinMs === 0) await joined;
  else joined.catch(() => {}); // its failure is the caller's, through `joined`
  const sample = async () => {
    const replies = await Promise.all(workers.map((w) => ask(w, { op: 'snapshot' })));
    return { hosts: replies.flatMap((r) => r.hosts ?? []), usage: replies.map((r) => r.usage ?? { cpuUs: NaN, rssMb: NaN }) };
  };
  if (joinMs === 0) log.info(`scale: ${n} hosts started in ${workers.length} workers`, { s: Math.round(performance.now() - t0) / 1000 });
  return {
    boot,
    joined,
    async snapshot() { return (await sample()).hosts; },
    sample,
    async crash(indices) { await Promise.all(workers.map((w, k) => ask(w, { op: 'crash', indices: ofWorker(indices, k) }))); },
    async stop() {
      await Promise.all(workers.map(async (w) => {
        if (!w.connected) return;
        const exited = new Promise((r) => w.once('exit', r));
        await ask(w, { op: 'stop' }).catch(() => {});
        await exited;
      }));
      await boot.stop();
    },
  };
}

/**
 * Messages per host per minute between two snapshots `ms` apart, in all and by kind, over the hosts
 * alive in both (a host that crashed or joined in between is left out).
 */
export function ratesBetween(before: readonly Pick<HostSnapshot, 'index' | 'counts'>[], after: readonly Pick<HostSnapshot, 'index' | 'counts'>[], ms: number): { perHostMin: number; byKind: Record<string, number> } {
  const then = new Map(before.map((h) => [h.index, h]));
  const both = after.filter((h) => then.has(h.index));
  const byKind: Record<string, number> = {};
  let sum = 0;
  for (const h of both) {
    const b = then.get(h.index)!;
    for (const [k, v] of Object.entries(h.counts)) {
      const d = v - (b.counts[k] ?? 0);
      byKind[k] = (byKind[k] ?? 0) + d;
      sum += d;
    }
  }
  const perMin = (x: number) => (both.length === 0 ? 0 : Math.round((x / both.length / (ms / 60_000)) * 10) / 10);
  for (const k of Object.keys(byKind)) byKind[k] = perMin(byKind[k]);
  return { perHostMin: perMin(sum), byKind };
}

/** Messages per host per minute over `ms` of steady state (hosts alive throughout). */
async function measureRate(swarm: SimSwarm, ms: number): Promise<{ perHostMin: number; byKind: Record<string, number> }> {
  const before = await swarm.snapshot();
  await sleep(ms);
  return ratesBetween(before, await swarm.snapshot(), ms);
}

/** Median, 90th percentile and largest of `xs` (undefined when empty). */
function spread(xs: readonly number[]): { p50: number; p90: number; max: number } | undefined {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? { p50: v[v.length >> 1], p90: v[Math.floor(v.length * 0.9)], max: v[v.length - 1] } : undefined;
}

/** Hosts whose record publications are failing now. */
export const failingHosts = (hosts: readonly Pick<HostSnapshot, 'publicationFailures'>[]): number => hosts.filter((h) => h.publicationFailures > 0).length;

/** Checks made and skipped, migration outcomes, and hosts whose publications are failing now. */
function stats(hosts: readonly HostSnapshot[]) {
  const outcomes: Record<string, number> = {};
  for (const h of hosts) for (const [k, v] of Object.entries(h.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
  const decisions: Record<string, number> = {};
  for (const h of hosts) for (const [k, v] of Object.entries(h.decisions)) decisions[k] = (decisions[k] ?? 0) + v;
  return {
    decisions,
    viewMs: spread(hosts.flatMap((h) => h.viewMs)),
    focusedViewMs: spread(hosts.flatMap((h) => h.focusedMs)),
    checks: hosts.reduce((a, x) => a + x.checks, 0), skipped: hosts.reduce((a, x) => a + x.skipped, 0),
    failingPublications: failingHosts(hosts), outcomes,
    lastWarning: hosts.find((x) => x.publicationFailures > 0)?.lastWarning,
    checkErrors: hosts.reduce((a, x) => a + x.checkErrors, 0), lastCheckError: hosts.find((x) => x.lastCheckError)?.lastCheckError,
    holding: hosts.filter((x) => x.holding).length,
    /** Expert -> hosts whose last full view saw it without a live holder. */
    seenUnserved: hosts.reduce<Record<string, number>>((a, x) => { for (const e of x.lastUnserved) a[e] = (a[e] ?? 0) + 1; return a; }, {}),
  };
}

/**
 * Runs `measure` with a fresh DHT client (a started client-mode node and its discovery, stopped after),
 * from before the node starts: `t0` is then.
 */
async function withFreshClient<T>(bootstrap: string[], measure: (c: { node: SwarmNode; discovery: DhtDiscovery; t0: number }) => Promise<T>): Promise<T> {
  const node: SwarmNode = await createSwarmNode({ bootstrap, log: silentLogger, clientMode: true, rpcCounter: createRpcCounter() });
  const t0 = performance.now();
  try {
    await node.start();
    const discovery = createDiscovery({ searchTimeoutMs: SIM_TIMEOUTS.searchTimeoutMs, recordTimeoutMs: SIM_TIMEOUTS.recordTimeoutMs, allowPrivateAddresses: true }, { node, log: silentLogger });
    return await measure({ node, discovery, t0 });
  } finally {
    await node.stop();
  }
}

/**
 * Time for a fresh DHT client to find a live record of every expert, as a joining router does, ms;
 * the first view's audit asks Info of the simulated hosts in `hosts` (a host not in it refuses).
 */
function discoverAll(bootstrap: string[], model: string, experts: readonly string[], hosts: readonly HostSnapshot[]): Promise<number> {
  const live = new Set(hosts.map((h) => h.grpc));
  return withFreshClient(bootstrap, async ({ discovery, t0 }) => {
    // As a router joins (router/replica-pool.ts `warm`): a first view from two searches and the
    // records the hosts found share (audited), then a search for each expert it did not cover.
    const view = await firstView((e) => discovery.replicas(model, e, { fresh: true, cachedRecords: true }), (peers) => discovery.learn(peers), model, experts,
      FIRST_VIEW, Date.now, { probe: async (r) => live.has(r.grpc) });
    const missing = new Set(experts.filter((e) => !view.has(e)));
    while (missing.size > 0 && performance.now() - t0 < 60_000) {
      await Promise.all([...missing].map(async (e) => {
        // As the router's discovery cache asks (router/discovery-cache.ts): a new provider search, records kept once fetched.
        // A search that got no answer in time rejects: the expert stays missing and is asked again.
        const found = await discovery.replicas(model, e, { fresh: true, cachedRecords: true }).catch(() => []);
        if (found.length > 0) missing.delete(e);
      }));
    }
    return Math.round(performance.now() - t0);
  });
}

/**
 * An `--auto` newcomer's join decision (join-view.ts, as host.ts `chooseAuto` makes it) from a fresh
 * DHT client; Info answered from `hosts` (what each serves now; a host not in it refuses).
 */
function newcomerJoin(bootstrap: string[], s: ScaleSettings, hosts: readonly HostSnapshot[]): Promise<{ ms: number; experts: number; pickHolders: number; minHolders: number }> {
  const byGrpc = new Map(hosts.map((h) => [h.grpc, h]));
  const info = async (address: string): Promise<HostInfo> => {
    const h = byGrpc.get(address);
    if (!h) throw new UnavailableError(`${address} is not in the swarm`);
    return {
      peerId: '', version: 'scale', model: s.model, experts: h.served.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
      queueDepth: 0, throughput: 0, kvCapacityBytes: 1, kvFreeBytes: 1, state: 'ONLINE', device: 'cpu', maxContext: 1,
    };
  };
  return withFreshClient(bootstrap, async ({ node, discovery, t0 }) => {
    const peerId = node.peerId;
    const { view } = await joinView({ model: s.model, experts: s.experts, peerId, targetReplicas: s.targetReplicas }, {
      replicas: (m, e, o) => discovery.replicas(m, e, o), learn: (peers) => discovery.learn(peers),
      info: { info }, ownLoad: () => new Map(), served: () => [],
    }, AbortSignal.timeout(60_000));
    const ms = Math.round(performance.now() - t0);
    const pick = await chooseJoin(view, peerId);
    const holders = (e: string) => holdersIn(hosts, e);
    return { ms, experts: view.experts.length, pickHolders: pick === undefined ? -1 : holders(pick), minHolders: Math.min(...s.experts.map(holders)) };
  });
}

/** The hosts to crash: every holder of some experts, then random others, 20 % of the swarm in all. */
function crashSet(hosts: readonly HostSnapshot[], experts: readonly string[]): HostSnapshot[] {
  const want = Math.round(hosts.length * 0.2);
  const out = new Set<HostSnapshot>();
  for (const e of experts) {
    const holders = hosts.filter((h) => h.served.includes(e));
    if (out.size > 0 && out.size + holders.length > want / 2) break;
    holders.forEach((h) => out.add(h));
  }
  for (const h of [...hosts].sort(() => Math.random() - 0.5)) {
    if (out.size >= want) break;
    out.add(h);
  }
  return [...out];
}

const holdersIn = (hosts: readonly HostSnapshot[], e: string) => hosts.filter((h) => h.served.includes(e)).length;
const movesOf = (hosts: readonly HostSnapshot[]) => hosts.reduce((a, h) => a + h.moves, 0);

export async function runScale(sizes: ScaleSizes, log: Logger): Promise<ScaleResult> {
  const experts = sizes.levels.flatMap((k, l) => Array.from({ length: k }, (_, i) => `L${l}.${i}`));
  const s: ScaleSettings = { model: 'scale', experts, targetReplicas: sizes.targetReplicas, intervalMs: sizes.intervalMs, recordTtlS: sizes.recordTtlS };
  const nSmall = Math.max(experts.length, Math.round(sizes.hosts / 4));
  const joinMs = sizes.joinMs ?? 0;
  const small = await startSwarm(nSmall, experts, s, sizes, log, Math.round((joinMs * nSmall) / sizes.hosts));
  let smallRate: { perHostMin: number };
  let smallFailing: number;
  try {
    await small.joined;
    await sleep(sizes.warmupMs);
    smallRate = await measureRate(small, sizes.measureMs);
    const hosts = await small.snapshot();
    smallFailing = failingHosts(hosts);
    log.info('scale: quarter size', { hosts: hosts.length, rpcsPerHostMin: smallRate.perHostMin, ...stats(hosts) });
  } finally {
    await small.stop();
  }
  const full = await startSwarm(sizes.hosts, experts, s, sizes, log, joinMs);
  try {
    await full.joined;
    await sleep(sizes.warmupMs);
    const rate = await measureRate(full, sizes.measureMs);
    const settledHosts = await full.snapshot();
    log.info('scale: full size', { hosts: settledHosts.length, rpcsPerHostMin: rate.perHostMin, byKind: rate.byKind, ...stats(settledHosts) });
    const discoverMs = await discoverAll(full.boot.multiaddrs(), s.model, experts, settledHosts);
    const newcomer = await newcomerJoin(full.boot.multiaddrs(), s, settledHosts);
    log.info('scale: a newcomer\'s join', { ...newcomer });
    const crashed = crashSet(settledHosts, experts);
    const crashedIdx = new Set(crashed.map((h) => h.index));
    const aliveNow = async () => (await full.snapshot()).filter((h) => !crashedIdx.has(h.index));
    const before = settledHosts.filter((h) => !crashedIdx.has(h.index));
    const movesMin = experts.reduce((a, e) => a + Math.max(0, sizes.targetReplicas - holdersIn(before, e)), 0);
    const timeline = new HolderTimeline(experts);
    timeline.observe(0, before);
    const t0 = performance.now();
    const since = () => Math.round(performance.now() - t0) / 1000;
    await full.crash([...crashedIdx]);
    let alive = await aliveNow();
    const movesBefore = movesOf(alive);
    log.info(`scale: crashed ${crashed.length} hosts`, { unserved: experts.filter((e) => holdersIn(alive, e) === 0).length, movesMin });
    let healS = NaN;
    let restoredS = NaN;
    while (performance.now() - t0 < sizes.healTimeoutMs) {
      alive = await aliveNow();
      timeline.observe(since(), alive);
      if (Number.isNaN(healS) && experts.every((e) => holdersIn(alive, e) > 0)) healS = since();
      if (experts.every((e) => holdersIn(alive, e) >= sizes.targetReplicas)) {
        restoredS = since();
        break;
      }
      await sleep(250);
    }
    log.info('scale: after the crash', { healS, restoredS, ...stats(alive) });
    const moves = movesOf(alive) - movesBefore;
    // The settle window: holder sets are followed on, so that a flap (a host joining an expert and
    // leaving it again) or a late move shows.
    const settleEnd = performance.now() + sizes.settleMs;
    while (performance.now() < settleEnd) {
      await sleep(500);
      alive = await aliveNow();
      timeline.observe(since(), alive);
    }
    const after = movesOf(alive) - movesBefore;
    const t = timeline.summary();
    log.info('scale: settle window over', { ...t, moves, after, ...stats(alive) });
    return {
      scale_join_s: joinMs / 1000, scale_warmup_s: sizes.warmupMs / 1000,
      scale_hosts: settledHosts.length, scale_experts: experts.length, scale_discover_ms: discoverMs,
      scale_newcomer_ms: newcomer.ms, scale_newcomer_experts: newcomer.experts,
      scale_newcomer_pick_holders: newcomer.pickHolders, scale_newcomer_min_holders: newcomer.minHolders,
      scale_rpcs_per_host_min: rate.perHostMin, scale_rpcs_per_host_min_small: smallRate.perHostMin, scale_rpcs_by_kind: rate.byKind,
      scale_failing_hosts: failingHosts(settledHosts), scale_failing_hosts_small: smallFailing,
      scale_heal_s: healS, scale_restored_s: restoredS, scale_short_experts: experts.filter((e) => holdersIn(alive, e) < sizes.targetReplicas).length,
      scale_moves: after, scale_moves_min: movesMin, scale_settled: after === moves,
      scale_flaps: t.flaps, scale_last_change_s: t.lastChangeAt ?? 0,
    };
  } finally {
    await full.stop();
  }
}

/**
 * The soak (`--scenario scale-soak`): one swarm of `hosts` simulated hosts started at once and
 * followed for `durationS`, one line per `windowS` window: does a swarm of this size settle on this
 * machine, when, and what does it cost once settled? (The `scale` scenario measures at fixed times
 * and so cannot tell a swarm still settling from one that never will.)
 */
export interface SoakSizes extends Pick<ScaleSizes, 'hosts' | 'levels' | 'targetReplicas' | 'intervalMs' | 'recordTtlS' | 'startConcurrency' | 'workers'> {
  /** How long the soak follows the swarm, s: from when every host has started, or with `joinS`, from the first arrival. */
  durationS: number;
  windowS: number;
  /** 0: every host starts at once; otherwise hosts arrive one by one over this many seconds, as a swarm grows. */
  joinS: number;
}

export const SOAK_DEFAULT: SoakSizes = { ...SCALE_FULL, hosts: 100, durationS: 300, windowS: 30, joinS: 0 };
export const SOAK_QUICK: SoakSizes = { ...SCALE_QUICK, hosts: 16, durationS: 40, windowS: 10, joinS: 0 };

export interface SoakWindow {
  /** The window's end, seconds after every host had started (with `--join-s`, after the first arrived). */
  t_s: number;
  /** Hosts running at the window's end. */
  hosts: number;
  rpcs_per_host_min: number;
  by_kind: Record<string, number>;
  /** Hosts whose record publications are failing at the window's end. */
  failing_hosts: number;
  /** Median duration of the hosts' last rebalancing views, ms (null before any view). */
  view_p50_ms: number | null;
  connections_per_host: number;
  /** Connections the hosts closed over the window to stay within their water marks, per host per minute. */
  trimmed_per_host_min: number;
  /** CPU each worker process used over the window, in cores (to a thousandth), and its resident memory at the end, MiB. */
  worker_cores: number[];
  worker_rss_mb: number[];
}

export interface ScaleSoakResult {
  scale_soak_hosts: number;
  scale_soak_experts: number;
  scale_soak_start_s: number;
  /** Seconds over which hosts arrived (0: all at once). */
  scale_soak_join_s: number;
  scale_soak_windows: SoakWindow[];
  /** The end of the first window from which on no host's publications failed; null when the last window still had some. */
  scale_soak_settled_s: number | null;
  /** Means over the settled windows (null when none): messages per host per minute, and the workers' CPU in cores. */
  scale_soak_settled_rpcs_per_host_min: number | null;
  scale_soak_settled_cores: number | null;
}

/** Connections closed by the hosts' trimmers between two samples, per host per minute (one decimal). */
export function trimmedRate(prev: readonly Pick<HostSnapshot, 'index' | 'trimmed'>[], cur: readonly Pick<HostSnapshot, 'index' | 'trimmed'>[], ms: number): number {
  const before = new Map(prev.map((h) => [h.index, h.trimmed]));
  const closed = cur.reduce((a, h) => a + h.trimmed - (before.get(h.index) ?? 0), 0);
  return cur.length === 0 || ms <= 0 ? 0 : Math.round((closed / cur.length / (ms / 60_000)) * 10) / 10;
}

/** When a soak settled: the end of the first window of the final run of windows with no failing host (null when the last window has one). */
export function settledAt(windows: readonly Pick<SoakWindow, 't_s' | 'failing_hosts'>[]): number | null {
  let at: number | null = null;
  for (const w of windows) {
    if (w.failing_hosts > 0) at = null;
    else at ??= w.t_s;
  }
  return at;
}

export async function runScaleSoak(sizes: SoakSizes, log: Logger): Promise<ScaleSoakResult> {
  const experts = sizes.levels.flatMap((k, l) => Array.from({ length: k }, (_, i) => `L${l}.${i}`));
  const s: ScaleSettings = { model: 'scale', experts, targetReplicas: sizes.targetReplicas, intervalMs: sizes.intervalMs, recordTtlS: sizes.recordTtlS };
  const t0 = performance.now();
  const swarm = await startSwarm(sizes.hosts, experts, s, { ...SCALE_FULL, ...sizes }, log, sizes.joinS * 1000);
  let startS = Math.round(performance.now() - t0) / 1000;
  void swarm.joined.then(() => { startS = Math.round(performance.now() - t0) / 1000; }, () => {});
  const windows: SoakWindow[] = [];
  try {
    const started = performance.now();
    let prev = await swarm.sample();
    let prevAt = performance.now();
    while (performance.now() - started < sizes.durationS * 1000) {
      await sleep(Math.min(sizes.windowS * 1000, started + sizes.durationS * 1000 - performance.now()));
      const cur = await swarm.sample();
      const at = performance.now();
      const ms = at - prevAt;
      const rate = ratesBetween(prev.hosts, cur.hosts, ms);
      const w: SoakWindow = {
        t_s: Math.round((at - started) / 100) / 10,
        hosts: cur.hosts.length,
        rpcs_per_host_min: rate.perHostMin, by_kind: rate.byKind,
        failing_hosts: failingHosts(cur.hosts),
        view_p50_ms: spread(cur.hosts.flatMap((h) => h.viewMs))?.p50 ?? null,
        connections_per_host: Math.round((cur.hosts.reduce((a, h) => a + h.connections, 0) / Math.max(1, cur.hosts.length)) * 10) / 10,
        trimmed_per_host_min: trimmedRate(prev.hosts, cur.hosts, ms),
        // In millicores: a few idle simulated hosts use a few thousandths of a core, which 0.01 read as 0.
        worker_cores: cur.usage.map((u, i) => Math.round(((u.cpuUs - prev.usage[i].cpuUs) / 1000 / ms) * 1000) / 1000),
        worker_rss_mb: cur.usage.map((u) => u.rssMb),
      };
      windows.push(w);
      log.info('scale soak: window', { ...w });
      prev = cur;
      prevAt = at;
    }
    await swarm.joined; // a host that failed to start fails the soak
  } finally {
    await swarm.stop();
  }
  const settled = settledAt(windows);
  const after = settled === null ? [] : windows.filter((w) => w.t_s >= settled);
  const mean = (xs: number[]) => (xs.length === 0 ? null : Math.round((xs.reduce((a, x) => a + x, 0) / xs.length) * 100) / 100);
  return {
    scale_soak_hosts: sizes.hosts, scale_soak_experts: experts.length, scale_soak_start_s: startS, scale_soak_join_s: sizes.joinS, scale_soak_windows: windows,
    scale_soak_settled_s: settled,
    scale_soak_settled_rpcs_per_host_min: mean(after.map((w) => w.rpcs_per_host_min)),
    scale_soak_settled_cores: mean(after.map((w) => w.worker_cores.reduce((a, x) => a + x, 0))),
  };
}
