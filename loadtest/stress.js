// @ts-check
/**
 * Stress test: arrival rate in steps well past what the swarm can serve, to see where and how it
 * breaks. Shedding is the correct behaviour under overload, so 429 and 503-with-Retry-After count as
 * expected answers; anything else 5xx, a dropped connection or a timeout is a `server_errors` fault.
 *
 *   k6 run loadtest/stress.js
 */
import http from 'k6/http';
import { discoverModel, mixedRequest, parseTable, scenarioFor, target, thresholdsFor } from './lib/swarmpath.js';

const TABLE = parseTable(open('./scenarios.json'));

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 429, 503));

/**
 * The table's thresholds with `checks` relaxed to > 50 %: past saturation some requests time out
 * and fail their checks; `server_errors` and `http_req_failed` bound those. Object.assign, not
 * object spread: k6 before v0.53 parses ES2015 only (test/unit/loadtest/k6-syntax.test.ts).
 * @type {import('k6/options').Options}
 */
export const options = {
  scenarios: { stress: scenarioFor(TABLE, 'stress') },
  thresholds: Object.assign(thresholdsFor(TABLE, 'stress'), { checks: ['rate>0.5'] }),
};

export function setup() {
  return { model: discoverModel() };
}

/** @param {{ model: string }} data */
export default function (data) {
  mixedRequest(target(TABLE, data.model), Number(__ITER) * 1000 + Number(__VU));
}
