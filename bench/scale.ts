/**
 * The `scale` scenario (issue 10; SPEC.md section 6): hundreds of simulated hosts (bench/scale-host.ts:
 * real libp2p kad-dht nodes, the real announcer, discovery, swarm view and rebalancing; a stand-in for
 * the model) in this process, on loopback TCP. It measures
 * - `scale_discover_ms`: a router-like DHT client joining the settled swarm until it knows a live
 *   record of every expert;
 * - `scale_rpcs_per_host_min`: control-plane messages (libp2p streams opened: DHT RPCs, pings,
 *   identify; plus Info calls) sent per host per minute in steady state, at the full size and
 *   (`_small`) at a quarter of it;
 * - `scale_heal_s`: after 20 % of the hosts crash at once (every holder of some experts among them),
 *   the time until every expert is served again; `scale_moves` (moves made until the swarm settles)
 *   against `scale_moves_min` (the fewest that restore every expert to its target replicas), and
 *   `scale_settled` (no move in the last settle window: no oscillation).
 */
import { createDiscovery } from '../shared/dht/discovery.ts';
import { createSwarmNode, type SwarmNode } from '../shared/dht/node.ts';
import { createRpcCounter } from '../shared/dht/rpc-counter.ts';
import type { Logger } from '../shared/log.ts';
import { silentLogger } from '../shared/log.ts';
import { SIM_TIMEOUTS, startSimHost, type InfoRegistry, type ScaleSettings, type SimHost } from './scale-host.ts';

export interface ScaleSizes {
  hosts: number;
  levels: number[];
  targetReplicas: number;
  intervalMs: number;
  recordTtlS: number;
  /** Steady-state window over which messages are counted, ms. */
  measureMs: number;
  /** Longest wait for healing, ms; and the quiet window that counts as settled, ms. */
  healTimeoutMs: number;
  settleMs: number;
  /** Hosts started at once. */
  startConcurrency: number;
}

export const SCALE_FULL: ScaleSizes = {
  hosts: 200, levels: [16, 16], targetReplicas: 2, intervalMs: 60_000, recordTtlS: 300,
  measureMs: 60_000, healTimeoutMs: 90_000, settleMs: 45_000, startConcurrency: 16,
};
export const SCALE_QUICK: ScaleSizes = { ...SCALE_FULL, hosts: 32, levels: [4, 4], measureMs: 20_000, intervalMs: 20_000, healTimeoutMs: 40_000, settleMs: 10_000 };

export interface ScaleResult {
  scale_hosts: number;
  scale_experts: number;
  scale_discover_ms: number;
  scale_rpcs_per_host_min: number;
  scale_rpcs_per_host_min_small: number;
  scale_rpcs_by_kind: Record<string, number>;
  scale_heal_s: number;
  scale_moves: number;
  scale_moves_min: number;
  scale_settled: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A swarm of sim hosts around one DHT bootstrap node. */
async function startSwarm(n: number, experts: readonly string[], s: ScaleSettings, concurrency: number, log: Logger) {
  const boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  const registry: InfoRegistry = new Map();
  const hosts: SimHost[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      hosts.push(await startSimHost(i, experts[i % experts.length], boot.multiaddrs(), s, registry));
    }
  }));
  log.info(`scale: ${n} hosts started`, { s: Math.round(performance.now() - t0) / 1000 });
  return { boot, hosts, registry };
}

/** Messages per host per minute over `ms` of steady state. */
async function measureRate(hosts: readonly SimHost[], ms: number): Promise<{ perHostMin: number; byKind: Record<string, number> }> {
  const before = hosts.map((h) => new Map(h.counter.counts()));
  await sleep(ms);
  const byKind: Record<string, number> = {};
  let total = 0;
  hosts.forEach((h, i) => {
    for (const [k, v] of h.counter.counts()) {
      const d = v - (before[i].get(k) ?? 0);
      byKind[k] = (byKind[k] ?? 0) + d;
      total += d;
    }
  });
  const minutes = ms / 60_000;
  for (const k of Object.keys(byKind)) byKind[k] = Math.round((byKind[k] / hosts.length / minutes) * 10) / 10;
  return { perHostMin: Math.round((total / hosts.length / minutes) * 10) / 10, byKind };
}

/** Checks made and skipped, and hosts whose publications are failing now, summed over `hosts`. */
function stats(hosts: readonly SimHost[]) {
  const all = hosts.map((h) => h.stats());
  return {
    checks: all.reduce((a, x) => a + x.checks, 0), skipped: all.reduce((a, x) => a + x.skipped, 0),
    failingPublications: all.filter((x) => x.publicationFailures > 0).length,
  };
}

/** Time for a fresh DHT client to find a live record of every expert, ms. */
async function discoverAll(bootstrap: string[], model: string, experts: readonly string[]): Promise<number> {
  const node: SwarmNode = await createSwarmNode({ bootstrap, log: silentLogger, clientMode: true, rpcCounter: createRpcCounter() });
  const t0 = performance.now();
  await node.start();
  const discovery = createDiscovery({ searchTimeoutMs: SIM_TIMEOUTS.searchTimeoutMs, recordTimeoutMs: SIM_TIMEOUTS.recordTimeoutMs, allowPrivateAddresses: true }, { node, log: silentLogger });
  try {
    const missing = new Set(experts);
    while (missing.size > 0 && performance.now() - t0 < 60_000) {
      await Promise.all([...missing].map(async (e) => {
        if ((await discovery.replicas(model, e, { fresh: true })).length > 0) missing.delete(e);
      }));
    }
    return Math.round(performance.now() - t0);
  } finally {
    await node.stop();
  }
}

/** The hosts to crash: every holder of some experts, then random others, 20 % of the swarm in all. */
function crashSet(hosts: readonly SimHost[], experts: readonly string[]): SimHost[] {
  const want = Math.round(hosts.length * 0.2);
  const out = new Set<SimHost>();
  for (const e of experts) {
    const holders = hosts.filter((h) => h.served().includes(e));
    if (out.size > 0 && out.size + holders.length > want / 2) break;
    holders.forEach((h) => out.add(h));
  }
  for (const h of [...hosts].sort(() => Math.random() - 0.5)) {
    if (out.size >= want) break;
    out.add(h);
  }
  return [...out];
}

export async function runScale(sizes: ScaleSizes, log: Logger): Promise<ScaleResult> {
  const experts = sizes.levels.flatMap((k, l) => Array.from({ length: k }, (_, i) => `L${l}.${i}`));
  const s: ScaleSettings = { model: 'scale', experts, targetReplicas: sizes.targetReplicas, intervalMs: sizes.intervalMs, recordTtlS: sizes.recordTtlS };
  const small = await startSwarm(Math.max(experts.length, Math.round(sizes.hosts / 4)), experts, s, sizes.startConcurrency, log);
  let smallRate: { perHostMin: number };
  try {
    await sleep(sizes.intervalMs);
    smallRate = await measureRate(small.hosts, sizes.measureMs);
    log.info('scale: quarter size', { hosts: small.hosts.length, rpcsPerHostMin: smallRate.perHostMin, ...stats(small.hosts) });
  } finally {
    await Promise.all(small.hosts.map((h) => h.stop()));
    await small.boot.stop();
  }
  const full = await startSwarm(sizes.hosts, experts, s, sizes.startConcurrency, log);
  try {
    await sleep(sizes.intervalMs);
    const rate = await measureRate(full.hosts, sizes.measureMs);
    log.info('scale: full size', { hosts: full.hosts.length, rpcsPerHostMin: rate.perHostMin, byKind: rate.byKind, ...stats(full.hosts) });
    const discoverMs = await discoverAll(full.boot.multiaddrs(), s.model, experts);
    const crashed = crashSet(full.hosts, experts);
    const alive = full.hosts.filter((h) => !crashed.includes(h));
    const movesBefore = alive.reduce((a, h) => a + h.moves(), 0);
    const holders = (e: string) => alive.filter((h) => h.served().includes(e)).length;
    const movesMin = experts.reduce((a, e) => a + Math.max(0, sizes.targetReplicas - holders(e)), 0);
    const t0 = performance.now();
    await Promise.all(crashed.map((h) => h.crash()));
    log.info(`scale: crashed ${crashed.length} hosts`, { unserved: experts.filter((e) => holders(e) === 0).length, movesMin });
    let healS = NaN;
    while (performance.now() - t0 < sizes.healTimeoutMs) {
      if (Number.isNaN(healS) && experts.every((e) => holders(e) > 0)) healS = Math.round(performance.now() - t0) / 1000;
      if (experts.every((e) => holders(e) >= sizes.targetReplicas)) break;
      await sleep(250);
    }
    log.info('scale: after the crash', { healS, ...stats(alive) });
    let moves = alive.reduce((a, h) => a + h.moves(), 0) - movesBefore;
    await sleep(sizes.settleMs);
    const after = alive.reduce((a, h) => a + h.moves(), 0) - movesBefore;
    const settled = after === moves;
    moves = after;
    return {
      scale_hosts: full.hosts.length, scale_experts: experts.length, scale_discover_ms: discoverMs,
      scale_rpcs_per_host_min: rate.perHostMin, scale_rpcs_per_host_min_small: smallRate.perHostMin, scale_rpcs_by_kind: rate.byKind,
      scale_heal_s: healS, scale_moves: moves, scale_moves_min: movesMin, scale_settled: settled,
    };
  } finally {
    await Promise.all(full.hosts.map((h) => h.stop().catch(() => {})));
    await full.boot.stop();
  }
}
