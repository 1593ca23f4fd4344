/**
 * A rogue host on the wire (./rogue-host.ts: its own peer id and endpoint, honest on Info and Forward
 * — what probes and cross-checks call — and adding noise to every Session output) joins a real swarm
 * as a third replica of every expert. The bar: of 40 seeded completions at most 3 differ from
 * the honest swarm's text, and none after the first 20. The router's cross-check of a replica's first
 * step catches it, distrusts it, and hands the client the majority's output for that step.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, test } from 'vitest';
import { startLocalSwarm, type LocalSwarm } from '../../helpers/local-swarm.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const ROGUE = new URL('./rogue-host.ts', import.meta.url).pathname;
const PROMPTS = ['Once upon a time', 'def main():', 'The river', 'SELECT * FROM', 'In 1848 the', 'function f(x) {', 'Dear friend,', 'import numpy'];
let swarm: LocalSwarm;
let rogue: ChildProcess | undefined;

beforeAll(async () => {
  const model = await synthFixture({});
  // A short discovery cache: the router sees the rogue join within seconds.
  swarm = await startLocalSwarm({ model, replicas: 2, spare: 0, hostArgs: ['--no-rebalance'], routerArgs: ['--discovery-cache-s=1'] });
});

afterAll(async () => {
  rogue?.kill('SIGKILL');
  if (swarm) await swarm.stop();
});

async function complete(i: number): Promise<string> {
  const r = await fetch(`${swarm.http}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: PROMPTS[i % PROMPTS.length], max_tokens: 24, temperature: 0.8, seed: 1000 + i }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { choices: { text: string }[] }).choices[0].text;
}

test('a host honest on probes but lying on Session outputs changes no text and loses all work', async (t) => {
  const honest: string[] = [];
  for (let i = 0; i < 40; i++) honest.push(await complete(i));

  const up = swarm.hosts[0];
  rogue = spawn(process.execPath, [ROGUE, '--upstream', up.grpc, '--model', 'synth', ...up.experts.flatMap((e) => ['--expert', e]),
    ...swarm.bootstrap.flatMap((b) => ['--bootstrap', b])], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let stderr = '';
  rogue.stderr!.on('data', (d) => { stderr += d; });
  const events: Record<string, unknown>[] = [];
  createInterface({ input: rogue.stdout! }).on('line', (l) => { try { events.push(JSON.parse(l)); } catch { /* not an event */ } });
  const ready = await waitFor(`the rogue's ready event (${stderr.slice(-500)})`, () => events.find((e) => e.event === 'ready'), { timeoutMs: 30_000, intervalMs: 100 });
  const rogueId = ready.peerId as string;
  const listed = async () => {
    const s = await (await fetch(`${swarm.http}/v1/swarm`)).json() as { experts: Record<string, { peerId: string }[]> } | Record<string, unknown>;
    return JSON.stringify(s).includes(rogueId);
  };
  await waitFor('the router to list the rogue as a replica', listed, { timeoutMs: 60_000, intervalMs: 250 });

  const after: string[] = [];
  for (let i = 0; i < 40; i++) after.push(await complete(i));
  const steps = events.filter((e) => e.event === 'step').length;
  assert.ok(steps > 0, 'the rogue was given real work (else this test proves nothing)');
  const differ = after.map((text, i) => (text !== honest[i] ? i : -1)).filter((i) => i >= 0);
  await t.annotate(`the rogue served ${steps} Session steps; ${differ.length} of 40 texts differ from the honest swarm's`);
  assert.ok(differ.length <= 3, `texts that differ from the honest swarm's: ${differ.join(',')}`);
  assert.ok(differ.every((i) => i < 20), `none after the first 20: ${differ.join(',')}`);
  assert.equal(await listed(), false, 'the rogue is distrusted: no longer a replica');
  const metrics = await (await fetch(`${swarm.http}/metrics`)).text();
  assert.match(metrics, /swarmpath_cross_checks_total\{[^}]*result="primary-wrong"[^}]*\} [1-9]/);
});
