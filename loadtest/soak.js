// @ts-check
/**
 * Soak test: a modest constant arrival rate for a long time (30 minutes by default; DURATION=2h for
 * longer), to catch what only time shows: leaks (watch swarmpath_host_kv_used_bytes and resident
 * memory), timeouts after hours, sessions that never close. Thresholds are strict: nothing should fail.
 *
 *   k6 run loadtest/soak.js
 *   k6 run -e DURATION=2h loadtest/soak.js
 */
import { check } from 'k6';
import { discoverModel, getOk, mixedRequest, parseTable, scenarioFor, target, thresholdsFor } from './lib/swarmpath.js';

const TABLE = parseTable(open('./scenarios.json'));

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: { soak: scenarioFor(TABLE, 'soak') },
  thresholds: thresholdsFor(TABLE, 'soak'),
};

export function setup() {
  return { model: discoverModel() };
}

/** @param {{ model: string }} data */
export default function (data) {
  mixedRequest(target(TABLE, data.model), Number(__ITER) * 1000 + Number(__VU));
}

/** At the end: every expert still has a live replica. */
export function teardown() {
  const ready = getOk('/readyz');
  check(ready, { 'still ready after the soak': (r) => r.status === 200 });
}
