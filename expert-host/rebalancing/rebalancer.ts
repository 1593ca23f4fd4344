/**
 * The rebalancing loop of one host (issue 5): at jittered intervals (schedule.ts) read the swarm's
 * host records fresh from the DHT, keep those whose hosts answer (liveness-probe.ts), measure
 * demand (demand.ts, smoothed), decide (decide.ts) and carry the decision out (migrator.ts). A move
 * waiting to release its old expert is finished first. Lifecycle: start() / stop().
 *
 * A check costs a DHT scan and an Info call to every host, so in a swarm of N hosts each pinned host
 * (`scaleWithSwarm`; --auto spares, the swarm's healers, keep the plain interval) stretches its
 * interval by N / CHECKERS_PER_INTERVAL (never below one interval): the swarm as a
 * whole keeps about CHECKERS_PER_INTERVAL checks per interval, and its checking costs O(N) calls per
 * interval, not O(N²). Only hosts that cannot move stretch: a host whose own expert has more live
 * replicas than the target (it may move, and such hosts heal an expert that lost every host) keeps
 * the plain interval (the chaos suite healed in 14 s instead of 1-2 s when every pinned host stretched) (17 hosts checking every 4 s saturated a 2-core machine, and their DHT scans, late
 * under that load, came back with a fraction of the hosts). N is the largest of the last few views,
 * since a view under load can miss hosts.
 */
import type { Logger } from '../../shared/log.ts';
import type { Discovery } from '../../shared/transport-types.ts';
import { effectiveHosts } from './balance.ts';
import { decideRebalance } from './decide.ts';
import { measureDemand, smoothDemand, type OwnExpertLoad } from './demand.ts';
import type { LivenessProbe } from './liveness-probe.ts';
import type { MigrationOutcome, Migrator, ViewInput } from './migrator.ts';
import { jitteredSchedule, type Timers } from './schedule.ts';
import type { RebalanceDecision, RebalanceOptions } from './types.ts';

export interface RebalancerInit {
  model: string;
  /** Every expert id of the model. */
  experts: readonly string[];
  peerId: string;
  targetReplicas: number;
  /** Mean time between checks, ms, and its relative spread. */
  intervalMs: number;
  /** Stretch the interval with the swarm's size (see the file comment); default true. */
  scaleWithSwarm?: boolean;
  jitter?: number;
  firstDelayMs?: number;
  /** EMA weight of a new demand sample (default 0.3). */
  demandAlpha?: number;
  options?: Partial<RebalanceOptions>;
}

export interface ViewSourceComponents {
  discovery: Discovery;
  probe: LivenessProbe;
  /** This host's own per-expert load (fresher than its record). */
  ownLoad(): ReadonlyMap<string, OwnExpertLoad>;
}

export interface RebalancerComponents {
  /** Carries decisions out; built over the same `view`. */
  migrator: Migrator;
  /** A fresh, live view of the swarm (createViewSource). */
  view(signal: AbortSignal): Promise<ViewInput>;
  log: Logger;
  emit?: (event: string, fields: Record<string, unknown>) => void;
  random?: () => number;
  timers?: Timers;
}

export interface Rebalancer {
  start(): void;
  stop(): Promise<void>;
  /** Runs one check now (tests, and a newcomer that must not wait). */
  checkNow(): Promise<void>;
  /** The last decision and what came of it. */
  last(): { decision: RebalanceDecision; outcome?: MigrationOutcome } | undefined;
}

/** The fresh, live view with smoothed demand; shared by the loop and the migrator's checks. */
export function createViewSource(init: Pick<RebalancerInit, 'model' | 'experts' | 'peerId' | 'targetReplicas' | 'demandAlpha' | 'options'>,
  c: ViewSourceComponents): (signal: AbortSignal) => Promise<ViewInput> {
  let smoothed: Map<string, number> | undefined;
  return async (signal) => {
    const all = await c.discovery.allHosts({ fresh: true, signal });
    const mine = all.filter((r) => r.model === init.model);
    const hosts = await c.probe.filter(mine, init.peerId, signal);
    const raw = measureDemand(init.experts, hosts, { own: { peerId: init.peerId, perExpert: c.ownLoad() } });
    smoothed = smoothDemand(smoothed, raw, init.demandAlpha ?? 0.3);
    return { experts: init.experts, hosts, targetReplicas: init.targetReplicas, demand: smoothed, options: init.options };
  };
}

/** Checks per interval the stretching hosts of a swarm keep together (see the file comment). */
export const CHECKERS_PER_INTERVAL = 1;
/** Views whose largest host count sizes the swarm. */
const SIZE_WINDOW = 5;

/** How much a host in a swarm of `hosts` stretches its check interval. */
export function intervalScale(hosts: number): number {
  return Math.max(1, hosts / CHECKERS_PER_INTERVAL);
}

export function createRebalancer(init: RebalancerInit, c: RebalancerComponents): Rebalancer {
  const random = c.random ?? Math.random;
  const emit = c.emit ?? (() => {});
  const halt = new AbortController();
  let lastResult: { decision: RebalanceDecision; outcome?: MigrationOutcome } | undefined;
  /** Live hosts in the last SIZE_WINDOW views. */
  const sizes: number[] = [];
  const swarmSize = () => Math.max(1, ...sizes);
  /** Whether one of this host's experts had more live replicas than the target in the last view. */
  let mayMove = true;

  const check = async () => {
    if (halt.signal.aborted) return;
    if (c.migrator.pending()) {
      const outcome = await c.migrator.finishPending();
      if (outcome) c.log.info('pending move', { outcome: outcome.type });
      return;
    }
    const input = await c.view(halt.signal);
    sizes.push(input.hosts.length);
    if (sizes.length > SIZE_WINDOW) sizes.shift();
    const mine = c.migrator.experts();
    const holders = [...effectiveHosts(input.hosts, { peerId: init.peerId, experts: mine }).values()];
    mayMove = mine.some((e) => holders.filter((served) => served.includes(e)).length > init.targetReplicas);
    const decision = decideRebalance({ ...input, self: { peerId: init.peerId, experts: c.migrator.experts() }, random: random() });
    lastResult = { decision };
    if (decision.type === 'stay') return;
    c.log.info(`rebalance: ${describe(decision)}`, { hosts: input.hosts.length });
    emit('rebalance', { ...decision, peerId: init.peerId });
    const outcome = decision.type === 'join'
      ? await c.migrator.join(decision.expertId)
      : await c.migrator.move(decision.from, decision.to);
    lastResult = { decision, outcome };
  };

  const schedule = jitteredSchedule({
    intervalMs: init.intervalMs, scale: () => (init.scaleWithSwarm === false || mayMove ? 1 : intervalScale(swarmSize())), jitter: init.jitter, firstDelayMs: init.firstDelayMs, random, timers: c.timers,
    onError: (err) => c.log.warn('rebalancing check failed', { error: err }),
  }, check);

  return {
    start: () => schedule.start(),
    async stop() {
      halt.abort();
      await schedule.stop();
      await c.migrator.stop();
    },
    checkNow: () => schedule.runNow(),
    last: () => lastResult,
  };
}

function describe(d: RebalanceDecision): string {
  if (d.type === 'join') return `join ${d.expertId} (${d.reason})`;
  if (d.type === 'move') return `move ${d.from} → ${d.to} (${d.reason}, weaker score ${d.before.toFixed(2)} → ${d.after.toFixed(2)})`;
  return 'stay';
}
