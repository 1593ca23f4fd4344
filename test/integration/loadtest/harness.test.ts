import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runLoad, loadScenarioTable, summarize, isStream } from '../../../bench/load-harness.ts';
import { arrivalOffsetsMs } from '../../../bench/arrivals.ts';

const DELAY_MS = 20;

/** A tiny stand-in for the API: completions after DELAY_MS, streams of three text events, every 7th request 503. */
async function tinyApi(): Promise<{ url: string; seen: { total: number; streams: number; refused: number }; close(): Promise<void> }> {
  const seen = { total: 0, streams: 0, refused: 0 };
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', async () => {
      const n = ++seen.total;
      const body = JSON.parse(raw) as { prompt: string; stream?: boolean; max_tokens: number };
      if (req.url !== '/v1/completions' || typeof body.prompt !== 'string') { res.writeHead(404).end(); return; }
      if (n % 7 === 0) {
        seen.refused++;
        res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'no live replica', type: 'server_error', code: 'NO_LIVE_REPLICA' } }));
        return;
      }
      await new Promise((r) => setTimeout(r, DELAY_MS));
      if (body.stream) {
        seen.streams++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const t of ['a', 'b', 'c']) {
          res.write(`data: ${JSON.stringify({ choices: [{ text: t, index: 0 }] })}\n\n`);
          await new Promise((r) => setTimeout(r, 5));
        }
        res.write(`data: ${JSON.stringify({ choices: [{ text: '', index: 0, finish_reason: 'length' }], usage: { completion_tokens: 5 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ text: 'abc', index: 0 }], usage: { completion_tokens: 3 } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('the harness drives the CI-size load scenario at its arrival rate and reports what the server did', async () => {
  const api = await tinyApi();
  const table = loadScenarioTable();
  const shape = table.scenarios.load.ci;
  const expected = arrivalOffsetsMs(shape);
  const { report, samples } = await runLoad({
    baseUrl: api.url, scenario: 'load', shape, prompts: table.prompts, maxTokens: 4, streamShare: 0.5, limits: table.thresholds.load,
  });
  await api.close();
  assert.equal(report.requests + report.dropped, expected.length, 'every scheduled arrival was sent or counted as dropped');
  assert.equal(report.requests, api.seen.total);
  assert.equal(report.byStatus['503'], api.seen.refused);
  assert.equal(report.failed, api.seen.refused, 'a 503 is a failure outside the stress scenario');
  assert.equal(report.ok, api.seen.total - api.seen.refused);
  assert.equal(report.shed, api.seen.refused);
  assert.ok(report.p50Ms >= DELAY_MS, `p50 ${report.p50Ms} >= the server's delay`);
  assert.ok(report.p99Ms >= report.p95Ms && report.p95Ms >= report.p50Ms);
  const streams = samples.filter((s) => s.stream && s.ok);
  assert.equal(streams.length, api.seen.streams);
  assert.ok(streams.length > 0);
  for (const s of streams) {
    assert.equal(s.tokens, 5, 'a stream\'s tokens come from its final usage');
    assert.ok(s.ttftMs !== undefined && s.ttftMs >= DELAY_MS && s.ttftMs <= s.endMs - s.startMs);
  }
  assert.equal(report.tokens, 3 * (report.ok - streams.length) + 5 * streams.length);
  assert.ok(report.ttftP50Ms >= DELAY_MS);
  // Start times follow the schedule: never early.
  for (const s of samples) assert.ok(s.startMs >= expected[s.index], `request ${s.index} started at ${s.startMs}, scheduled ${expected[s.index]}`);
  // With one 503 in 7 the failure-rate threshold (1%) must fail: thresholds can fail.
  assert.equal(report.thresholds.find((t) => t.name === 'failed_rate')?.pass, false);
  assert.equal(report.pass, false);
});

test('stress counts 429/503 as shedding, not failure; connection errors are server errors', async () => {
  const api = await tinyApi();
  const table = loadScenarioTable();
  const { report } = await runLoad({
    baseUrl: api.url, scenario: 'stress', shape: { kind: 'constant', rate: 20, durationS: 1, maxInflight: 16 },
    prompts: table.prompts, maxTokens: 4, streamShare: 0, limits: table.thresholds.stress, shedIsExpected: true,
  });
  await api.close();
  assert.equal(report.requests, 20);
  assert.equal(report.shed, api.seen.refused);
  assert.equal(report.failed, 0);
  assert.equal(report.thresholds.find((t) => t.name === 'server_error_rate')?.pass, true);
  // Nobody listening any more: every request is a server error.
  const { report: dead } = await runLoad({
    baseUrl: api.url, scenario: 'stress', shape: { kind: 'iterations', iterations: 2, maxInflight: 1 },
    prompts: table.prompts, maxTokens: 4, streamShare: 0, limits: table.thresholds.stress, shedIsExpected: true,
  });
  assert.equal(dead.byStatus['0'], 2);
  assert.equal(dead.thresholds.find((t) => t.name === 'server_error_rate')?.pass, false);
});

test('the harness refuses non-loopback URLs unless allowed', async () => {
  const table = loadScenarioTable();
  await assert.rejects(runLoad({ baseUrl: 'http://example.com', scenario: 'smoke', shape: table.scenarios.smoke.ci, prompts: table.prompts, maxTokens: 1, streamShare: 0 }), /loopback/);
});

test('summaries are pure and the stream mix is deterministic', () => {
  const r = summarize('x', [], { durationS: 1, dropped: 0, shedIsExpected: false, limits: { failedRate: 0.1, p95Ms: 1, ttftP95Ms: 1 } });
  assert.equal(r.requests, 0);
  assert.equal(r.pass, false, 'no requests is not a pass');
  const share = Array.from({ length: 1000 }, (_, i) => isStream(i, 0.3)).filter(Boolean).length;
  assert.ok(share >= 290 && share <= 310, `share ${share}`);
});
