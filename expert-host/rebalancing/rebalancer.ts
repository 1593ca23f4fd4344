/**
 * The rebalancing loop of one host (issue 5): at jittered intervals (schedule.ts) read a fresh view
 * of the swarm (swarm-view.ts: its cost depends on the model and on what this host serves, not on
 * the number of hosts), decide (decide.ts) and carry the decision out (migrator.ts). A move waiting
 * to release its old expert is finished first. Checks are rare (a minute by default, as Petals'
 * two): in a swarm of N hosts one happens every interval / N somewhere, which is what heals a lost
 * expert fast. Lifecycle: start() / stop().
 */
import type { Logger } from '../../shared/log.ts';
import { decideRebalance } from './decide.ts';
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
  jitter?: number;
  firstDelayMs?: number;
  /** EMA weight of a new demand sample (default 0.3). */
  demandAlpha?: number;
  options?: Partial<RebalanceOptions>;
}

export interface RebalancerComponents {
  /** Carries decisions out; built over the same `view`. */
  migrator: Migrator;
  /** A fresh, live view of the swarm (swarm-view.ts). */
  view(signal: AbortSignal): Promise<ViewInput>;
  /**
   * True while checks should be skipped: this host's own DHT publications are failing, so its view
   * of the DHT is as broken as others' view of it, and a move made on it would feed the churn.
   */
  paused?(): boolean;
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

export function createRebalancer(init: RebalancerInit, c: RebalancerComponents): Rebalancer {
  const random = c.random ?? Math.random;
  const emit = c.emit ?? (() => {});
  const halt = new AbortController();
  let lastResult: { decision: RebalanceDecision; outcome?: MigrationOutcome } | undefined;

  const check = async () => {
    if (halt.signal.aborted) return;
    if (c.migrator.pending()) {
      const outcome = await c.migrator.finishPending();
      if (outcome) c.log.info('pending move', { outcome: outcome.type });
      return;
    }
    if (c.paused?.()) {
      c.log.debug('rebalancing check skipped: this host\'s DHT publications are failing');
      return;
    }
    const input = await c.view(halt.signal);
    const decision = decideRebalance({ ...input, self: { peerId: init.peerId, experts: c.migrator.experts() }, random: random() });
    lastResult = { decision };
    if (decision.type === 'stay') {
      c.log.debug('rebalance: stay', { hosts: input.hosts.length });
      return;
    }
    c.log.info(`rebalance: ${describe(decision)}`, { hosts: input.hosts.length });
    emit('rebalance', { ...decision, peerId: init.peerId });
    const outcome = decision.type === 'join'
      ? await c.migrator.join(decision.expertId)
      : await c.migrator.move(decision.from, decision.to);
    lastResult = { decision, outcome };
  };

  const schedule = jitteredSchedule({
    intervalMs: init.intervalMs, jitter: init.jitter, firstDelayMs: init.firstDelayMs, random, timers: c.timers,
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
