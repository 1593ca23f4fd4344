/**
 * Property-based fuzz of request parsing (fast-check): any JSON value, any mutation of a valid body
 * (a field replaced by any JSON value, deep nesting, huge numbers, unknown fields) and any text as a
 * body gives either a valid parse or the router's own 4xx with an OpenAI error body; nothing throws
 * past the validation (which would be a 500). Pure parsing first, then the same through the HTTP
 * handler on in-memory sockets.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { silentLogger } from '../../../shared/log.ts';
import { SwarmpathError } from '../../../shared/errors.ts';
import { createMetricsRegistry, routerMetrics } from '../../../shared/telemetry/metrics.ts';
import type { Generator } from '../../../router/generation.ts';
import type { ReplicaPool } from '../../../router/replica-pool.ts';
import { parseChat, parseCompletion, parseRoute } from '../../../router/http/completion-request.ts';
import { errorResponse } from '../../../router/http/errors.ts';
import { createRouterApi } from '../../../router/http/server.ts';
import { toyRuntime } from './fakes.ts';
import { inject } from './inject.ts';

const ctx = { modelName: 'toy', maxContext: 128, vocabSize: 256, encode: (t: string) => new TextEncoder().encode(t) };

const FIELDS = ['model', 'prompt', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n', 'seed', 'stop',
  'stream', 'stream_options', 'logit_bias', 'logprobs', 'top_logprobs', 'echo', 'best_of', 'suffix', 'top_k', 'min_p',
  'repetition_penalty', 'frequency_penalty', 'presence_penalty', 'user', 'metadata', 'store', 'response_format', 'tools',
  'tool_choice', 'functions', 'function_call', 'parallel_tool_calls', '__proto__', 'constructor', 'toString'];

/** Nested arrays and objects `depth` deep (JSON.parse builds them; a recursive walk would overflow). */
const deep = (depth: number, obj: boolean): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = obj ? { a: v } : [v];
  return v;
};

const oddNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 1e-320, 4294967296, 1.5, -1, 0);
const anyValue = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: oddNumber },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.boolean()).map(([d, o]) => deep(d, o)) },
);
const validCompletion = { prompt: 'hello', max_tokens: 2 };
const validChat = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
/** A valid body with some fields replaced or added (any JSON value), or a body of schema fields only. */
const mutated = (base: Record<string, unknown>) => fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), anyValue, { maxKeys: 4 }).map((d) => ({ ...base, ...d })),
  fc.dictionary(fc.constantFrom(...FIELDS), anyValue, { maxKeys: 6 }),
  fc.dictionary(fc.string({ maxLength: 8 }), anyValue, { maxKeys: 3 }).map((d) => ({ ...base, ...d })),
);
const anyBody = (base: Record<string, unknown>) => fc.oneof(mutated(base), fc.jsonValue({ maxDepth: 3 }));

/** Runs `parse` on `body`: a result, or the 4xx it throws (anything else fails the property). */
function parsedOr4xx(parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    assert.ok(err instanceof SwarmpathError, `threw ${String(err)}`);
    const r = errorResponse(err);
    assert.ok(r.status === 400 || r.status === 404, `status ${r.status}: ${r.body.error.message}`);
    assert.ok(r.body.error.message.length > 0 && r.body.error.type === 'invalid_request_error');
  }
}

describe('request parsing fuzz (pure)', () => {
  const asObject = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : { body: v });
  it('completions: any mutated body parses or is a 4xx', () => {
    fc.assert(fc.property(anyBody(validCompletion), (b) => parsedOr4xx(() => parseCompletion(asObject(b), ctx))), { numRuns: 1500 });
  });
  it('chat: any mutated body parses or is a 4xx', () => {
    fc.assert(fc.property(anyBody(validChat), (b) => parsedOr4xx(() => parseChat(asObject(b), ctx))), { numRuns: 1500 });
  });
  it('route: any mutated body parses or is a 4xx', () => {
    fc.assert(fc.property(anyBody({ prompt: 'x' }), (b) => parsedOr4xx(() => parseRoute(asObject(b)))), { numRuns: 500 });
  });
});

describe('request handling fuzz (HTTP, in-memory sockets)', () => {
  const generator: Generator = {
    async generate(req, onText) {
      await onText?.('ok', { hosts: ['h'], path: req.path, tokens: 1 } as never);
      return { text: 'ok', finishReason: 'length', promptTokens: req.prompt.length, completionTokens: 1, path: req.path, paths: [req.path], reroutes: 0, hosts: ['h'], replays: 0 };
    },
  };
  const reg = createMetricsRegistry();
  const pool = { view: async () => ({}), readiness: async () => ({ ready: true, missing: [] }) } as Pick<ReplicaPool, 'view' | 'readiness'>;
  const { server } = createRouterApi({ bodyLimitBytes: 512 * 1024, maxQueue: 1000, maxQueuePerClient: 1000 }, {
    runtime: toyRuntime(), generator, pool, metrics: routerMetrics(reg), metricsText: () => reg.text(), log: silentLogger, randomSeed: () => 1,
  });
  /** JSON text of a body (a value nested too deep for JSON.stringify is left shallow: deepText nests deeper). */
  const json = (b: unknown) => { try { return JSON.stringify(b); } catch { return '{}'; } };
  /** A field nested up to 40,000 deep, written as text. */
  const deepText = fc.tuple(fc.constantFrom(...FIELDS), fc.integer({ min: 1, max: 40_000 }), fc.constantFrom(['[', ']'], ['{"a":', '}']))
    .map(([field, d, [open, close]]) => `{"prompt": "hi", ${JSON.stringify(field)}: ${open.repeat(d)}1${close.repeat(d)}}`);
  const text = fc.oneof(
    anyBody(validCompletion).map(json),
    anyBody(validChat).map(json),
    deepText,
    fc.tuple(fc.constantFrom(JSON.stringify(validCompletion), JSON.stringify(validChat)), fc.nat()).map(([s, n]) => s.slice(0, n % s.length)),
    fc.string({ maxLength: 200 }),
    fc.constantFrom('', 'null', '[]', '{}', '{"prompt": "\\ud800"}', '{"prompt": "a", "prompt": 5}', '\u0000', '{"__proto__": {"prompt": 5}}'),
  );

  it('any text to a POST endpoint is answered 200 or a 4xx OpenAI error, never a 5xx', { timeout: 60_000 }, async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('/v1/completions', '/v1/chat/completions', '/v1/route'), text, async (path, body) => {
      const r = await inject(server, { path, body });
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${path} ${body.slice(0, 80)} → ${r.status} ${r.text.slice(0, 200)}`);
      if (r.status !== 200) {
        const e = r.json().error;
        assert.ok(typeof e.message === 'string' && typeof e.type === 'string' && typeof e.code === 'string', r.text);
      } else if (String(r.headers['content-type']).startsWith('text/event-stream')) {
        assert.equal(r.events().at(-1), '[DONE]', r.text);
      } else {
        assert.equal(typeof r.json(), 'object');
      }
    }), { numRuns: 600 });
  });
});
