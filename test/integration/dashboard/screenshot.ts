/**
 * Takes docs/dashboard.png: the dashboard of the default swarm (`npm start`'s: models/swarmpath-tiny,
 * 2 replicas of each expert on 4 pinned hosts, 1 `--auto` spare) under a minute of light traffic,
 * one host SIGKILLed halfway through (failovers; the spare may move to cover its experts).
 * Not a test: run it by hand after changing the page.
 *
 *   node test/integration/dashboard/screenshot.ts [out.png]
 */
import { startLocalSwarm } from '../../helpers/local-swarm.ts';
import { figure, launchChromium, openWatched, waitForExperts } from './browser.ts';

const out = process.argv[2] ?? 'docs/dashboard.png';
const TRAFFIC_MS = 60_000;
const PROMPTS = ['Once upon a time', 'def main():', 'The quick brown fox', 'import numpy as np', 'Dear diary,', 'SELECT * FROM'];

// Rebalancing checks every ~5 s (not 60 s), so that a move can show within the run.
const swarm = await startLocalSwarm({ model: 'models/swarmpath-tiny', replicas: 2, spare: 1, hostArgs: ['--rebalance-interval-s=5'] });
const browser = await launchChromium();
try {
  const w = await openWatched(browser, `${swarm.http}/`, { width: 1600, height: 1000 });
  const placement: Record<string, string[]> = {};
  for (const h of swarm.hosts) for (const e of h.experts) (placement[e] ??= []).push(h.peerId);
  await waitForExperts(w.page, Object.fromEntries(Object.entries(placement).map(([e, p]) => [e, p.sort()])), 120_000);

  const start = Date.now();
  // SIGKILL while both clients have sessions open: their stages on that host fail over.
  const kill = setTimeout(() => swarm.killHost(swarm.hosts[0].peerId), TRAFFIC_MS / 3);
  let i = 0;
  const client = async () => {
    while (Date.now() - start < TRAFFIC_MS) {
      const prompt = `${PROMPTS[i % PROMPTS.length]} ${i}`;
      i++;
      await fetch(`${swarm.http}/v1/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, max_tokens: 32, temperature: 0.8, stream: i % 2 === 0 }), signal: AbortSignal.timeout(60_000),
      }).then((r) => r.text()).catch(() => undefined);
    }
  };
  await Promise.all([client(), client()]);
  clearTimeout(kill);
  // The spare may move to cover the killed host's experts; show that too when it happens in time.
  const moved = await w.page.locator('.tag.move').first().waitFor({ timeout: 30_000 }).then(() => true, () => false);
  // The page has polled since the last request ended: it shows all of them.
  await w.page.waitForFunction((n) => (globalThis as any).document.querySelector('[data-figure="requests"]').textContent.replaceAll(',', '') === String(n), i, { timeout: 15_000 });
  console.log(JSON.stringify({ moved, requests: await figure(w.page, 'requests'), tokens: await figure(w.page, 'tokens'), problems: w.problems }));
  await w.page.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
  await swarm.stop();
}
