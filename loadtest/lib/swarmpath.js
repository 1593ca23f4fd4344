// @ts-check
/**
 * What every k6 script of swarmpath shares: configuration from `__ENV`, the scenario table
 * (scenarios.json, shared with the Node harness), the two request kinds (a completion and a
 * streamed completion) and the custom metrics.
 *
 * Environment: BASE_URL (default http://127.0.0.1:8080), API_KEY (sent as a Bearer token when set),
 * MODEL (default: the first of GET /v1/models), MAX_TOKENS, STREAM_SHARE (0..1), RATE_SCALE (multiplies
 * every arrival rate), SIZE (`full` or `ci`).
 */
import http from 'k6/http';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

/**
 * @typedef {{ target: number, durationS: number }} Stage
 * @typedef {{ kind: 'iterations', iterations: number, maxInflight: number }
 *   | { kind: 'ramping', startRate: number, stages: Stage[], maxInflight: number }
 *   | { kind: 'constant', rate: number, durationS: number, maxInflight: number }} Shape
 * @typedef {{ failedRate: number, p95Ms: number, p99Ms?: number, ttftP95Ms: number, serverErrorRate?: number }} Limits
 * @typedef {{ prompts: string[], maxTokens: number, streamShare: number,
 *   scenarios: Record<string, { full: Shape, ci: Shape }>, thresholds: Record<string, Limits> }} Table
 */

/**
 * Parses the scenario table. Each script reads it itself, `open('./scenarios.json')` (a path next to
 * the script, which k6 resolves the same way whichever rule it applies), and hands the text here.
 * @param {string} text
 * @returns {Table}
 */
export function parseTable(text) {
  return JSON.parse(text);
}

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const API_KEY = __ENV.API_KEY || '';
const RATE_SCALE = Number(__ENV.RATE_SCALE || 1);
const SIZE = __ENV.SIZE === 'ci' ? 'ci' : 'full';

/** Milliseconds from sending a streamed request to its first byte; the router sends headers with the first token. */
export const timeToFirstToken = new Trend('time_to_first_token', true);
/** Streams that ended with `data: [DONE]` and no error event. */
export const streamsComplete = new Rate('stream_complete');
/** Completion tokens the API reported (usage.completion_tokens; a stream's last event carries it). */
export const tokensGenerated = new Counter('tokens_generated');
/** Answers that are server faults: 5xx other than 503 (503 with Retry-After is load shedding), or no answer. */
export const serverErrors = new Rate('server_errors');
/** Answers 429/503: the API shedding load as SPEC.md section 3 allows. */
export const shed = new Rate('shed');

/** @returns {Record<string, string>} */
function headers() {
  /** @type {Record<string, string>} */
  const h = { 'content-type': 'application/json' };
  if (API_KEY) h.authorization = `Bearer ${API_KEY}`;
  return h;
}

/**
 * The k6 scenario for the named shape, at SIZE, rates times RATE_SCALE.
 * @param {Table} table
 * @param {string} name
 * @returns {import('k6/options').Scenario}
 */
export function scenarioFor(table, name) {
  const shape = table.scenarios[name][SIZE];
  // k6 takes whole numbers of iterations per time unit.
  const scale = (/** @type {number} */ r) => Math.max(0, Math.round(r * RATE_SCALE));
  if (shape.kind === 'iterations') {
    return { executor: 'per-vu-iterations', vus: 1, iterations: shape.iterations, maxDuration: '5m' };
  }
  if (shape.kind === 'constant') {
    const duration = __ENV.DURATION || `${shape.durationS}s`;
    return { executor: 'constant-arrival-rate', rate: Math.max(1, Math.round(shape.rate * RATE_SCALE)), timeUnit: '1s', duration,
      preAllocatedVUs: Math.min(shape.maxInflight, 8), maxVUs: shape.maxInflight };
  }
  return {
    executor: 'ramping-arrival-rate', startRate: scale(shape.startRate), timeUnit: '1s',
    stages: shape.stages.map((s) => ({ target: scale(s.target), duration: `${s.durationS}s` })),
    preAllocatedVUs: Math.min(shape.maxInflight, 8), maxVUs: shape.maxInflight,
  };
}

/**
 * k6 thresholds from the table's limits for `name`.
 * @param {Table} table
 * @param {string} name
 * @returns {Record<string, import('k6/options').Threshold[]>}
 */
export function thresholdsFor(table, name) {
  const l = table.thresholds[name];
  /** @type {Record<string, import('k6/options').Threshold[]>} */
  const t = {
    http_req_failed: [`rate<${l.failedRate}`],
    http_req_duration: [`p(95)<${l.p95Ms}`],
    time_to_first_token: [`p(95)<${l.ttftP95Ms}`],
    checks: ['rate>0.95'],
  };
  if (l.p99Ms !== undefined) t.http_req_duration.push(`p(99)<${l.p99Ms}`);
  if (l.serverErrorRate !== undefined) t.server_errors = [`rate<${l.serverErrorRate}`];
  return t;
}

/** The model to ask for: MODEL, else the first model the API lists. Call from setup(). */
export function discoverModel() {
  if (__ENV.MODEL) return __ENV.MODEL;
  const res = http.get(`${BASE_URL}/v1/models`, { headers: headers(), tags: { name: 'GET /v1/models' } });
  check(res, { 'models: 200': (r) => r.status === 200 });
  /** @type {any} */
  const body = res.status === 200 ? res.json() : null;
  return body && body.data && body.data[0] ? String(body.data[0].id) : 'swarmpath-tiny';
}

/**
 * What one request needs to know: the model, the prompts and the sizes.
 * @typedef {{ model: string, prompts: string[], maxTokens: number, streamShare: number }} Target
 */

/**
 * The request target for `model` from the table, with MAX_TOKENS and STREAM_SHARE applied.
 * @param {Table} table
 * @param {string} model
 * @returns {Target}
 */
export function target(table, model) {
  return {
    model, prompts: table.prompts,
    maxTokens: Number(__ENV.MAX_TOKENS || table.maxTokens),
    streamShare: __ENV.STREAM_SHARE === undefined ? table.streamShare : Number(__ENV.STREAM_SHARE),
  };
}

/** @param {Target} t @param {number} i */
function prompt(t, i) {
  return t.prompts[i % t.prompts.length];
}

/**
 * One request of the mix: a streamed completion with probability `streamShare`, else a plain one.
 * @param {Target} t
 * @param {number} i iteration number (picks the prompt and seed)
 */
export function mixedRequest(t, i) {
  return Math.random() < t.streamShare ? streamCompletion(t, i) : completion(t, i);
}

/** @param {import('k6/http').RefinedResponse<any>} res */
function classify(res) {
  const isShed = res.status === 429 || (res.status === 503 && !!res.headers['Retry-After']);
  shed.add(isShed);
  serverErrors.add(res.status === 0 || (res.status >= 500 && !isShed));
  return isShed;
}

/**
 * POST /v1/completions, not streamed.
 * @param {Target} t
 * @param {number} i
 */
export function completion(t, i) {
  const body = JSON.stringify({ model: t.model, prompt: prompt(t, i), max_tokens: t.maxTokens, temperature: 0.8, seed: i });
  const res = http.post(`${BASE_URL}/v1/completions`, body, { headers: headers(), tags: { name: 'POST /v1/completions' }, timeout: '120s' });
  if (classify(res)) return res;
  /** @type {any} */
  let json = null;
  try { json = res.json(); } catch (_) { json = null; }
  check(res, {
    'completion: 200': (r) => r.status === 200,
    'completion: has text': () => !!json && Array.isArray(json.choices) && typeof json.choices[0].text === 'string',
    'completion: names its path': () => !!json && !!json.swarmpath && Array.isArray(json.swarmpath.path),
  });
  if (json && json.usage) tokensGenerated.add(Number(json.usage.completion_tokens) || 0);
  return res;
}

/**
 * POST /v1/completions with `stream: true`. k6 reads the whole event stream; time to first token is
 * the time to the first byte, as the router sends its headers together with the first token.
 * @param {Target} t
 * @param {number} i
 */
export function streamCompletion(t, i) {
  const body = JSON.stringify({ model: t.model, prompt: prompt(t, i), max_tokens: t.maxTokens, temperature: 0.8, seed: i, stream: true });
  const res = http.post(`${BASE_URL}/v1/completions`, body, { headers: headers(), tags: { name: 'POST /v1/completions stream' }, timeout: '120s' });
  if (classify(res)) return res;
  const text = typeof res.body === 'string' ? res.body : '';
  const events = text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
  const done = events.length > 0 && events[events.length - 1] === '[DONE]';
  const failed = events.some((e) => e.indexOf('"error"') >= 0 && e.indexOf('"choices"') < 0);
  streamsComplete.add(done && !failed);
  check(res, {
    'stream: 200': (r) => r.status === 200,
    'stream: event-stream': (r) => String(r.headers['Content-Type'] || '').indexOf('text/event-stream') === 0,
    'stream: ends with [DONE]': () => done && !failed,
  });
  /** @type {any} */
  let final;
  try { final = events.length >= 2 ? JSON.parse(events[events.length - 2]) : null; } catch (_) { final = null; }
  tokensGenerated.add(final && final.usage ? Number(final.usage.completion_tokens) || 0 : Math.max(0, events.length - 1));
  if (res.status === 200) timeToFirstToken.add(res.timings.waiting);
  return res;
}

/** GET on a read-only endpoint with a status check. @param {string} path */
export function getOk(path) {
  const res = http.get(`${BASE_URL}${path}`, { headers: headers(), tags: { name: `GET ${path}` } });
  check(res, { [`${path}: 200`]: (r) => r.status === 200 });
  return res;
}

/** POST /v1/route: the path choice alone. @param {Target} t @param {number} i */
export function route(t, i) {
  const res = http.post(`${BASE_URL}/v1/route`, JSON.stringify({ prompt: prompt(t, i) }), { headers: headers(), tags: { name: 'POST /v1/route' } });
  check(res, { 'route: 200 with a path': (r) => r.status === 200 && Array.isArray(/** @type {any} */ (r.json()).path) });
  return res;
}
