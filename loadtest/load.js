// @ts-check
/**
 * Load test: an open model (ramping-arrival-rate), so a slow server faces the same arrivals instead
 * of slowing its clients down. Ramps to the table's target rate, holds it, ramps down. The request
 * mix is the table's: plain completions and a share of streamed ones.
 *
 *   k6 run loadtest/load.js
 *   k6 run -e RATE_SCALE=2 -e STREAM_SHARE=0.5 loadtest/load.js     # twice the arrival rate
 */
import { discoverModel, mixedRequest, parseTable, scenarioFor, target, thresholdsFor } from './lib/swarmpath.js';

const TABLE = parseTable(open('./scenarios.json'));

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: { load: scenarioFor(TABLE, 'load') },
  thresholds: thresholdsFor(TABLE, 'load'),
};

export function setup() {
  return { model: discoverModel() };
}

/** @param {{ model: string }} data */
export default function (data) {
  mixedRequest(target(TABLE, data.model), Number(__ITER) * 1000 + Number(__VU));
}
