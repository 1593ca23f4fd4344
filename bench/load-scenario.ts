/**
 * The `load` scenario: an open-model ramp driven by the Node harness against the bench swarm
 * (bench-swarm.ts), with the prompts of loadtest/scenarios.json that route to the swarm's path. With
 * --quick it is the table's CI `load` shape; otherwise a 30 s ramp-and-hold (the table's full shape
 * lasts 4.5 minutes: that one is for k6 and `node bench/load-harness.ts --size full`).
 */
import type { Logger } from '../shared/log.ts';
import { loadScenarioTable, runLoad } from './load-harness.ts';
import type { LoadReport } from './load-harness.ts';
import type { BenchSwarm } from './bench-swarm.ts';
import type { Shape } from './arrivals.ts';

/** The bench's own full-size load: 1 to 6 requests/s in 10 s, then 6/s for 20 s. */
export const BENCH_LOAD: Shape = { kind: 'ramping', startRate: 1, stages: [{ target: 6, durationS: 10 }, { target: 6, durationS: 20 }], maxInflight: 64 };

export type LoadScenarioResult = Omit<LoadReport, 'scenario'>;

export async function runLoadScenario(swarm: BenchSwarm, prompts: readonly string[], quick: boolean, log: Logger): Promise<LoadScenarioResult> {
  const table = loadScenarioTable();
  log.info('load: running', { http: swarm.http, size: quick ? 'ci' : 'bench', prompts: prompts.length });
  const { report } = await runLoad({
    baseUrl: swarm.http, scenario: 'load', shape: quick ? table.scenarios.load.ci : BENCH_LOAD, prompts,
    maxTokens: table.maxTokens, streamShare: table.streamShare, limits: table.thresholds.load,
  });
  const { scenario: _s, ...rest } = report;
  return rest;
}
