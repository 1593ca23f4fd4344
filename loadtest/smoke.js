// @ts-check
/**
 * Smoke test: one virtual user walks every read endpoint once, then a few completions (plain and
 * streamed). Short; passes against a fresh `npm start`. Fails the run (exit 99) when a threshold fails.
 *
 *   k6 run loadtest/smoke.js                       # BASE_URL defaults to http://127.0.0.1:8080
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e API_KEY=secret loadtest/smoke.js
 */
import { check } from 'k6';
import { BASE_URL, completion, discoverModel, getOk, parseTable, route, scenarioFor, streamCompletion, target, thresholdsFor } from './lib/swarmpath.js';

const TABLE = parseTable(open('./scenarios.json'));

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: { smoke: scenarioFor(TABLE, 'smoke') },
  thresholds: thresholdsFor(TABLE, 'smoke'),
};

export function setup() {
  getOk('/healthz');
  const ready = getOk('/readyz');
  if (ready.status !== 200) throw new Error(`${BASE_URL}/readyz answered ${ready.status}: the swarm is not ready`);
  return { model: discoverModel() };
}

/** @param {{ model: string }} data */
export default function (data) {
  const t = target(TABLE, data.model);
  const i = Number(__ITER);
  if (i === 0) {
    getOk('/v1/models');
    getOk('/v1/swarm');
    const m = getOk('/metrics');
    check(m, { 'metrics: prometheus text': (r) => typeof r.body === 'string' && r.body.indexOf('swarmpath_') >= 0 });
    route(t, i);
  }
  completion(t, i);
  streamCompletion(t, i);
}
