/**
 * Error bodies at the HTTP edge: a 5xx (before or after the first streamed event) carries a fixed
 * message and the request id, never a host's or the router's own text, and the log carries the
 * detail under that id; the router's own 4xx keep their precise message. Also the completion
 * handler's deps (the model's vocabulary) and POST /v1/route's schema.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import type { Logger } from '../../../shared/log.ts';
import { UnavailableError } from '../../../shared/errors.ts';
import { createMetricsRegistry, routerMetrics } from '../../../shared/telemetry/metrics.ts';
import type { GenerateRequest, GenerateResult, Generator, OnText } from '../../../router/generation.ts';
import type { ReplicaPool } from '../../../router/replica-pool.ts';
import { createRouterApi } from '../../../router/http/server.ts';
import { toyManifest, toyRuntime } from './fakes.ts';
import { inject } from './inject.ts';

/** What a host may say, and what must not reach a client. */
const SECRET = 'host 12D3KooWsecret at 10.1.2.3:7000 said: CUDA OOM in /opt/expert.onnx';

/** A generator failing as told: before any text, or after one piece of it. */
function failing(err: unknown, afterText = false): Generator {
  return {
    async generate(_req: GenerateRequest, onText?: OnText): Promise<GenerateResult> {
      if (afterText) await onText?.('some text', { hosts: ['h'], path: ['L0.0', 'L1.0'], tokens: 1 } as never);
      throw err;
    },
  };
}

function recordingLog(lines: { level: string; msg: string; fields?: Record<string, unknown> }[]): Logger {
  const log: Logger = {
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
    child: () => log,
  };
  return log;
}

function api(generator: Generator, manifest = toyManifest()) {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const reg = createMetricsRegistry();
  const pool = { view: async () => ({}), readiness: async () => ({ ready: true, missing: [] }) } as Pick<ReplicaPool, 'view' | 'readiness'>;
  const a = createRouterApi({}, {
    runtime: toyRuntime(manifest), generator, pool, metrics: routerMetrics(reg), metricsText: () => reg.text(), log: recordingLog(lines),
  });
  return { server: a.server, lines };
}

describe('error bodies at the HTTP edge', () => {
  it("a 5xx carries a fixed message and the request id, never the error's text; the log has the detail under that id", async () => {
    const cases: [unknown, number, string][] = [
      [new UnavailableError(`stage L1.0 failed 4 times: ${SECRET}`), 503, 'UNAVAILABLE'],
      [new TypeError(`Cannot read properties of undefined (${SECRET})`), 500, 'INTERNAL'],
    ];
    for (const [err, status, code] of cases) {
      const { server, lines } = api(failing(err));
      const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 2 } });
      assert.equal(r.status, status, r.text);
      const id = r.headers['x-request-id'] as string;
      assert.match(id, /^[0-9a-f]{16}$/);
      const e = r.json().error;
      assert.equal(e.code, code);
      assert.equal(e.type, 'server_error');
      assert.ok(!r.text.includes('12D3Koo') && !r.text.includes('10.1.2.3') && !r.text.includes('onnx'), r.text);
      assert.ok(e.message.endsWith(`(request ${id})`), e.message);
      const logged = lines.find((l) => l.fields?.requestId === id);
      assert.ok(logged && String(logged.fields?.error).includes(SECRET), JSON.stringify(lines));
    }
  });

  it('a stream failing after its first event ends with a generic error event, logged with its id', async () => {
    const { server, lines } = api(failing(new UnavailableError(`stage L0.0 failed: ${SECRET}`), true));
    const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hello', max_tokens: 2, stream: true } });
    assert.equal(r.status, 200);
    const last = JSON.parse(r.events().at(-1) as string);
    assert.equal(last.error.code, 'UNAVAILABLE');
    assert.equal(last.error.message, `the swarm could not serve this request now; retry later (request ${r.headers['x-request-id']})`);
    assert.ok(!r.text.includes('12D3Koo'));
    assert.ok(lines.some((l) => l.level === 'warn' && l.fields?.requestId === r.headers['x-request-id'] && String(l.fields?.error).includes(SECRET)));
  });

  it("the router's own 4xx keep their precise message and field", async () => {
    const { server } = api(failing(new Error('unused')));
    const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hi', temperature: 'warm' } });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json().error, { message: 'temperature: must be a number', type: 'invalid_request_error', code: 'INVALID_ARGUMENT', param: 'temperature' });
    const route = await inject(server, { path: '/v1/route', body: { prompt: 5 } });
    assert.equal(route.status, 400);
    assert.deepEqual(route.json().error, { message: 'prompt: is required and must be a string', type: 'invalid_request_error', code: 'INVALID_ARGUMENT', param: 'prompt' });
  });

  it("checks logit_bias against the model's vocabulary, not the byte tokenizer's 256", async () => {
    const manifest = toyManifest();
    manifest.dims.vocab_size = 100;
    const ok: Generator = {
      async generate(req) {
        return { text: 'ok', finishReason: 'length', promptTokens: req.prompt.length, completionTokens: 1, path: req.path, paths: [req.path], reroutes: 0, hosts: ['h'], replays: 0 };
      },
    };
    const { server } = api(ok, manifest);
    const r = await inject(server, { path: '/v1/completions', body: { prompt: 'hi', max_tokens: 1, logit_bias: { 150: 5 } } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error.param, 'logit_bias.150');
    assert.equal((await inject(server, { path: '/v1/completions', body: { prompt: 'hi', max_tokens: 1, logit_bias: { 99: 5 } } })).status, 200);
  });
});
