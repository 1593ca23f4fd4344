/**
 * The HTTP edge against 1,500 mutated requests on a real local swarm (`swarmpath swarm`, router with
 * --headers-timeout-s 1 and --body-timeout-s 1 so that stalled requests end quickly): JSON bodies
 * (wrong types, huge numbers, deep nesting, broken JSON, unknown fields) and odd methods, paths and
 * headers through fetch; malformed bytes, huge headers, request smuggling shapes and slowloris-ish
 * partial requests on raw `node:net` sockets. Every request gets an answer (no connection dropped
 * without one), none a 5xx other than 503, none hangs, and the router serves normally afterwards.
 * Inputs come from fast-check with a fixed seed, so a failure names a reproducible case.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { startLocalSwarm, type LocalSwarm } from '../../helpers/local-swarm.ts';

let swarm: LocalSwarm;
let port: number;

beforeAll(async () => {
  swarm = await startLocalSwarm({
    model: await synthFixture({}), replicas: 2, spare: 0, hostArgs: ['--no-rebalance'],
    routerArgs: ['--headers-timeout-s=1', '--body-timeout-s=1', '--max-queue=64', '--max-queue-per-client=64'],
  });
  port = Number(new URL(swarm.http).port);
});

afterAll(async () => {
  if (swarm) assert.equal(await swarm.stop(), 0);
});

interface Case { label: string; run(): Promise<number> }

const SEED = 20261201;
const valid = { completion: { prompt: 'Fuzz me', max_tokens: 2 }, chat: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } };
const FIELDS = ['model', 'prompt', 'messages', 'max_tokens', 'temperature', 'top_p', 'n', 'seed', 'stop', 'stream', 'stream_options',
  'logit_bias', 'logprobs', 'top_logprobs', 'echo', 'top_k', 'min_p', 'repetition_penalty', 'frequency_penalty', 'user', 'tools', '__proto__'];
const oddValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, 4294967296, -1, 0, 1.5, '', 'x'.repeat(5000)));

/** ~1,000 bodies: mutated valid bodies, broken JSON, odd text, deep nesting and huge numbers written as text. */
function jsonCases(n: number): Case[] {
  const mutated = fc.tuple(fc.constantFrom('completion', 'chat') as fc.Arbitrary<'completion' | 'chat'>, fc.dictionary(fc.constantFrom(...FIELDS), oddValue, { maxKeys: 3 }))
    .map(([kind, d]) => ({ path: kind === 'chat' ? '/v1/chat/completions' : '/v1/completions', body: JSON.stringify({ ...valid[kind], ...d }) }));
  const path = fc.constantFrom('/v1/completions', '/v1/chat/completions', '/v1/route');
  const text = fc.oneof(
    fc.tuple(fc.constantFrom(JSON.stringify(valid.completion), JSON.stringify(valid.chat)), fc.nat()).map(([s, k]) => s.slice(0, k % s.length)),
    fc.string({ maxLength: 300 }),
    fc.tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom('[', '{"a":')).map(([d, o]) => `{"prompt": ${o.repeat(d)}`),
    fc.integer({ min: 1, max: 100_000 }).map((d) => `{"prompt": "a", "stop": ${'['.repeat(d)}"x"${']'.repeat(d)}}`),
    fc.constantFrom('{"prompt":"a","max_tokens":1e400}', '{"prompt":"a","seed":-1e400}', '{"prompt":"a","n":1e20}', 'null', '[]', '""',
      '{"prompt":"a","prompt":7}', `{"prompt":"${'x'.repeat(900_000)}","max_tokens":1}`, `{"prompt":"${'x'.repeat(1_200_000)}"}`),
  );
  const all = fc.oneof({ weight: 3, arbitrary: mutated }, { weight: 2, arbitrary: fc.record({ path, body: text }) });
  return fc.sample(all, { numRuns: n, seed: SEED }).map((c, i) => ({
    label: `json#${i} ${c.path} ${c.body.slice(0, 100)}`,
    run: async () => {
      const r = await fetch(`${swarm.http}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: c.body, signal: AbortSignal.timeout(60_000) });
      await r.arrayBuffer();
      return r.status;
    },
  }));
}

/** Odd methods, paths and headers through fetch (what it lets a client send). */
function oddFetchCases(): Case[] {
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'M-SEARCH', 'BREW'];
  const paths = ['/v1/completions', '/v1/completions/', '/V1/MODELS', '/v1//models', '/%2e%2e/%2e%2e/etc/passwd', `/v1/models?${'q'.repeat(6000)}`,
    '/v1/route?prompt=x', '/dashboard/stats', '/metrics', '/\u00e9t\u00e9'];
  const headerSets: Record<string, string>[] = [{}, { 'content-type': 'text/plain' }, { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    { authorization: 'Bearer ' + 'k'.repeat(4000) }, { 'x-forwarded-for': '1.2.3.4', accept: '*/*;q=abc' }];
  const cases: Case[] = [];
  for (const [i, method] of methods.entries()) {
    for (const [j, path] of paths.entries()) {
      const headers = headerSets[(i + j) % headerSets.length];
      const body = method === 'GET' || method === 'HEAD' ? undefined : JSON.stringify(valid.completion);
      cases.push({ label: `odd ${method} ${path.slice(0, 60)} ${JSON.stringify(headers).slice(0, 60)}`, run: async () => {
        const r = await fetch(`${swarm.http}${path}`, { method, headers, body, signal: AbortSignal.timeout(60_000) });
        await r.arrayBuffer();
        return r.status;
      } });
    }
  }
  return cases;
}

const request = (lines: string[], body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;
const post = (body: string, extra: string[] = []) => request(['POST /v1/completions HTTP/1.1', 'Host: x', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, ...extra], body);

/** Malformed, oversized, smuggling-shaped and stalled requests, written as raw bytes. */
function rawCases(n: number): Case[] {
  const good = post(JSON.stringify(valid.completion), ['Connection: close']);
  const fixed: string[] = [
    'GET / HTTP/9.9\r\nHost: x\r\n\r\n', 'GET /v1/models HTTP/1.0\r\n\r\n', 'GET /healthz HTTP/1.1\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 'GET /healthz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, request(['GET /healthz HTTP/1.1', 'Host: x', ...Array.from({ length: 2000 }, (_, i) => `X-${i}: y`)]),
    request(['GET /healthz HTTP/1.1', 'Host: x', `X-Big: ${'b'.repeat(40_000)}`]), request(['GET /healthz HTTP/1.1', 'Host: x', 'X-Nul: a\0b']),
    request(['GET /healthz HTTP/1.1', 'Host: x', 'Bad Header: y']), request(['GET /healthz HTTP/1.1', 'Host: x', ' folded: y']),
    post('{}', ['Content-Length: 3']), post('{}', ['Transfer-Encoding: chunked']), post('{"prompt":"a"}').replace(/Content-Length: \d+/, 'Content-Length: -1'),
    post('{"prompt":"a"}').replace(/Content-Length: \d+/, 'Content-Length: 99999999999999999999'), post('{"prompt":"a"}').replace(/Content-Length: \d+/, 'Content-Length: abc'),
    request(['POST /v1/completions HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], 'zz\r\n'), request(['POST /v1/completions HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], 'ffffffffffffffffffff\r\n'),
    request(['POST /v1/completions HTTP/1.1', 'Host: x', 'Transfer-Encoding: gzip, chunked'], '0\r\n\r\n'), request(['POST /v1/completions HTTP/1.1', 'Host: x', 'Expect: 100-continue', 'Content-Length: 20']),
    good + good, good + 'GARBAGE\r\n\r\n', 'GET /healthz HTTP/1.1\nHost: x\n\n', '\r\n\r\n\r\n', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003',
  ];
  // Stalled: a partial request line, partial headers, a partial body (admitted, then 408 from the body deadline).
  const stalled = ['GET /heal', 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"pro',
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mes'];
  const mutate = fc.tuple(fc.constantFrom(good, fixed[2], post(JSON.stringify(valid.chat))), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 8 }), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 3 }))
    .map(([base, edits]) => edits.reduce((s, [at, del, ins]) => { const k = at % (s.length + 1); return s.slice(0, k) + ins + s.slice(k + del); }, base));
  const garbage = fc.uint8Array({ minLength: 1, maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1'));
  const randomCount = n - fixed.length - stalled.length * 5;
  const random = fc.sample(fc.oneof({ weight: 3, arbitrary: mutate }, { weight: 1, arbitrary: garbage }), { numRuns: randomCount, seed: SEED });
  const all = [...fixed, ...stalled.flatMap((s) => Array(5).fill(s)), ...random];
  return all.map((bytes, i) => ({ label: `raw#${i} ${JSON.stringify(bytes.slice(0, 100))}`, run: () => rawExchange(bytes) }));
}

/**
 * Writes `bytes` on a new connection (never half-closing it) and resolves the status of the first
 * complete response after any 100 Continue, or 0 when the server closes with none; rejects after 20 s.
 */
function rawExchange(bytes: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.from(bytes, 'latin1')));
    let buf = Buffer.alloc(0);
    const finish = (status: number) => { clearTimeout(timer); socket.destroy(); resolve(status); };
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within 20 s (got ${JSON.stringify(buf.toString('latin1').slice(0, 80))})`)); }, 20_000);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? -1);
        if (status === 100) { buf = buf.subarray(end + 4); continue; }
        const length = /\r\ncontent-length: (\d+)/i.exec(head);
        const body = buf.subarray(end + 4);
        if (length ? body.length >= Number(length[1]) : /\r\ntransfer-encoding: chunked/i.test(head) ? body.includes('0\r\n\r\n') : true) finish(status);
        return;
      }
    });
    socket.on('error', () => { /* the close below decides */ });
    socket.on('close', () => finish(0));
  });
}

/** Runs `cases` `concurrency` at a time; resolves every outcome. */
async function runAll(cases: Case[], concurrency: number): Promise<{ label: string; status: number; error?: string }[]> {
  const out: { label: string; status: number; error?: string }[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < cases.length) {
      const c = cases[next++];
      try {
        out.push({ label: c.label, status: await c.run() });
      } catch (err) {
        out.push({ label: c.label, status: 0, error: String((err as Error).cause ?? err) });
      }
    }
  }));
  return out;
}

describe('HTTP edge robustness (real swarm)', () => {
  it('answers 1,500 mutated requests without a 5xx (but 503), a dropped connection or a hang, and serves on', async (t) => {
    const cases = [...jsonCases(1000), ...oddFetchCases(), ...rawCases(400)];
    assert.equal(cases.length, 1500);
    // Interleave the kinds: raw, fetch and stalled requests share the router at once.
    const mixed = fc.sample(fc.shuffledSubarray(cases, { minLength: cases.length, maxLength: cases.length }), { numRuns: 1, seed: SEED })[0];
    const t0 = performance.now();
    const results = await runAll(mixed, 24);
    const bad = results.filter((r) => r.status === 0 || r.status < 100 || (r.status >= 500 && r.status !== 503));
    assert.deepEqual(bad.slice(0, 10), [], `${bad.length} bad answers`);
    const byStatus: Record<number, number> = {};
    for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    await t.annotate(`${results.length} requests in ${((performance.now() - t0) / 1000).toFixed(1)} s; statuses ${JSON.stringify(byStatus)}`);
    // Still serving, by the same router process: nothing crashed it, and it logged no internal error.
    assert.equal((await fetch(`${swarm.http}/healthz`)).status, 200);
    const r = await fetch(`${swarm.http}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'After the storm', max_tokens: 8 }) });
    assert.equal(r.status, 200, await r.text());
    assert.ok(!swarm.events.some((e) => e.event === 'restarted'), 'the router was never restarted');
    assert.deepEqual(swarm.logs.filter((l) => l.includes('"level":"error"') && l.includes('"proc":"router"')), []);
  });
});
