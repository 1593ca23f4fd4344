/**
 * The router's dashboard (GET /) on a real local swarm (`swarmpath swarm`: DHT node, 4 host
 * processes holding 2 replicas of each of 4 experts, the router), in Debian's headless Chromium
 * driven by playwright-core: the page names every expert with its live replicas (and, once the
 * router has probed them, their trust), its request and token figures follow a completion, and it
 * logs no console error and makes no failed or external request. A second router with API keys, on
 * the same DHT, serves the page without a key and asks for one before it shows any figure.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { spawnSwarmpath, type SwarmpathChild } from '../../../router/supervisor/swarmpath-child.ts';
import { startLocalSwarm, type LocalSwarm } from '../../helpers/local-swarm.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { figure, launchChromium, openWatched, waitForExperts } from './browser.ts';

const KEY = 'sk-dashboard-test';
let swarm: LocalSwarm;
let browser: Browser;
let modelDir: string;
let keyed: SwarmpathChild | undefined;
const keyedLogs: string[] = [];

/** Expert id → sorted peer ids of the hosts serving it, as the swarm placed them. */
function placement(): Record<string, string[]> {
  const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as { levels: { experts: { id: string }[] }[] };
  const ids = manifest.levels.flatMap((l) => l.experts.map((e) => e.id));
  return Object.fromEntries(ids.map((id) => [id, swarm.hosts.filter((h) => h.experts.includes(id)).map((h) => h.peerId).sort()]));
}

async function complete(base: string, prompt: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${base}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ prompt, max_tokens: 9, seed: 7 }), signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as { usage: { completion_tokens: number }; swarmpath: { path: string[] } };
}

beforeAll(async () => {
  modelDir = await synthFixture({});
  // Pinned hosts: the page must show the placement the swarm reported, not a later one.
  swarm = await startLocalSwarm({ model: modelDir, replicas: 2, expertsPerHost: 2, spare: 0, hostArgs: ['--no-rebalance'] });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await keyed?.stop(5000);
  if (swarm) assert.equal(await swarm.stop(), 0, 'the swarm exits 0 on SIGTERM');
});

describe('dashboard in a browser', () => {
  it('shows every expert with its replicas, and its figures follow a completion', async () => {
    const want = placement();
    assert.equal(Object.keys(want).length, 4);
    const w = await openWatched(browser, `${swarm.http}/`);
    await waitForExperts(w.page, want);
    assert.equal(await w.page.locator('#model-name').textContent(), JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')).name);
    assert.equal(await w.page.locator('.badge.none').count(), 0, 'no expert shown as NO REPLICA');
    // The router probes every replica it discovers; the trust column shows each verified.
    await w.page.waitForFunction(() => (globalThis as any).document.querySelectorAll('.replicas .trust-verified').length === 8, null, { timeout: 60_000, polling: 100 });
    assert.ok(await w.page.locator('.replicas td', { hasText: 'cpu' }).count() >= 8, 'each replica shows its device');

    const requests0 = await figure(w.page, 'requests');
    const tokens0 = await figure(w.page, 'tokens');
    const r = await complete(swarm.http, 'Once upon a time');
    assert.ok(r.usage.completion_tokens > 0);
    await w.page.waitForFunction(([req, tok]) => {
      const num = (name: string) => Number(((globalThis as any).document.querySelector(`[data-figure="${name}"]`).textContent as string).replaceAll(',', ''));
      return num('requests') === req && num('tokens') === tok;
    }, [requests0 + 1, tokens0 + r.usage.completion_tokens], { timeout: 15_000, polling: 100 });
    const pathRow = w.page.locator('#paths tr', { hasText: r.swarmpath.path.join(' → ') });
    assert.equal(await pathRow.locator('td.num').textContent(), '1', 'the completion\'s path counted once');
    assert.match(await w.page.locator('[data-figure="latency"]').textContent() ?? '', /^\d+ ms · \d+ ms$/, 'p50 and p95 once a request ended');
    assert.ok(await w.page.locator('svg[data-chart="requests"] path.line').count() > 0, 'the request chart has a line');

    assert.deepEqual(w.problems, []);
    const origin = new URL(swarm.http).origin;
    assert.deepEqual(w.requests.filter((u) => new URL(u).origin !== origin), [], 'no request leaves the router');
    assert.ok(w.requests.filter((u) => u.endsWith('/dashboard/stats')).length >= 2, 'the page polls its stats');
    await w.page.close();
  });

  it('with API keys: the page asks for a key, keeps it in sessionStorage and sends it as Bearer', async () => {
    keyed = spawnSwarmpath({
      name: 'router-with-keys', onLog: (l) => keyedLogs.push(l),
      args: ['router', '--model', modelDir, '--http-listen', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--api-key', KEY,
        ...swarm.bootstrap.flatMap((b) => ['--bootstrap', b])],
    });
    const http = (await keyed.ready).http as string;
    await waitFor(() => `the keyed router at ${http} to be ready\n${keyedLogs.slice(-20).join('\n')}`,
      async () => (await fetch(`${http}/readyz`)).status === 200, { timeoutMs: 60_000, intervalMs: 250 });
    for (const path of ['/', '/dashboard/dashboard.js', '/dashboard/dashboard.css', '/dashboard/favicon.svg']) {
      assert.equal((await fetch(`${http}${path}`)).status, 200, `${path} needs no key`);
    }
    assert.equal((await fetch(`${http}/dashboard/stats`)).status, 401);
    await complete(http, 'def main():', { authorization: `Bearer ${KEY}` });

    const w = await openWatched(browser, `${http}/`);
    await w.page.locator('#key-form').waitFor({ state: 'visible' });
    assert.equal(await w.page.locator('#main').isHidden(), true, 'no figure before a key');
    assert.deepEqual(w.authorizations('/dashboard/stats'), [], 'no stats request before a key');

    await w.page.fill('#key-input', 'wrong-key');
    await w.page.click('#key-form button');
    await w.page.locator('#key-error', { hasText: 'refused' }).waitFor();
    assert.equal(await w.page.evaluate(() => (globalThis as any).sessionStorage.getItem('swarmpath.apiKey')), null, 'a refused key is forgotten');

    await w.page.fill('#key-input', KEY);
    await w.page.click('#key-form button');
    await waitForExperts(w.page, placement());
    await w.page.waitForFunction(() => (globalThis as any).document.querySelector('[data-figure="requests"]').textContent === '1', null, { timeout: 15_000 });
    assert.equal(await w.page.evaluate(() => (globalThis as any).sessionStorage.getItem('swarmpath.apiKey')), KEY);
    assert.deepEqual(w.authorizations('/dashboard/stats').slice(0, 2), ['Bearer wrong-key', `Bearer ${KEY}`]);

    // A reload in the same tab keeps the key: no form, figures at once.
    await w.page.reload();
    await waitForExperts(w.page, placement());
    assert.equal(await w.page.locator('#key-form').isHidden(), true);

    // The only trouble the page met is the refused key's 401 (Chromium logs it as a console error).
    const stats401 = `HTTP 401 ${http}/dashboard/stats`;
    assert.deepEqual(w.problems.filter((p) => p !== stats401 && !/^console error: Failed to load resource: .* 401 /.test(p)), []);
    assert.equal(w.problems.filter((p) => p === stats401).length, 1);
    await w.page.close();
  });
});
