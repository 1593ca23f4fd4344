/**
 * The short chaos suite (issue 5, parts 2 and 4) on a real local swarm (`swarmpath swarm`: a DHT
 * node, 2 replicas of each of 2 experts, 1 spare, the router; every host may rebalance), under a
 * fixed-rate load of seeded completions:
 * - SIGKILL one replica: no request is lost, and every text equals its undisturbed replay;
 * - SIGKILL every replica of one expert (no restart): it is served again within 15 s by a host that
 *   migrates to it; requests through it succeed afterwards; a request that could not wait gets a
 *   503 with Retry-After, never a hang or a 500; texts still equal their undisturbed replay.
 * `npm run chaos` (loadtest/chaos.ts) is the long, random version.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../../shared/log.ts';
import { startChaosSwarm, type ChaosSwarm } from '../../../loadtest/chaos/chaos-swarm.ts';
import { runChaos } from '../../../loadtest/chaos/run-chaos.ts';
import { formatChaosReport } from '../../../loadtest/chaos/format.ts';
import type { ChaosReport } from '../../../loadtest/chaos/report.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

const PROMPTS = ['Once upon a time, in a small village,', 'def fibonacci(n):', 'The history of the Roman Empire begins', 'SELECT name FROM users WHERE'];
const logs: string[] = [];
let swarm: ChaosSwarm;

before(async () => {
  const model = await synthFixture({ levels: [2] });
  swarm = await startChaosSwarm({
    model, replicas: 2, spare: 1, onLog: (l) => logs.push(l),
    hostArgs: ['--rebalance', '--rebalance-interval-s=2', '--rebalance-delay-s=4'],
  });
});

after(async () => {
  await swarm?.stop();
});

function explain(r: ChaosReport): string {
  return `${formatChaosReport(r)}\n--- last logs ---\n${logs.slice(-30).join('\n')}`;
}

test('killing one replica under load loses no request and changes no text', async () => {
  const { report, samples } = await runChaos({
    swarm, rate: 2, durationMs: 10_000, prompts: PROMPTS, maxTokens: 12, seedBase: 1000, log: silentLogger,
    plan: [{ atMs: 3000, kind: 'one', pick: 0, restartAfterMs: 2000 }],
  });
  process.stderr.write(formatChaosReport(report));
  assert.equal(report.kills.length, 1, explain(report));
  assert.equal(report.kills[0].victims.length, 1);
  assert.equal(report.kills[0].served_again_s, 0, 'the killed expert kept a live replica');
  assert.ok(report.requests >= 18, explain(report));
  assert.equal(report.failed, 0, `requests lost: ${JSON.stringify(samples.filter((s) => !s.ok).map((s) => [s.status, s.error]))}\n${explain(report)}`);
  assert.ok(report.kills[0].during.requests > 0, 'some requests were in flight around the kill');
  assert.equal(report.determinism?.compared, report.requests);
  assert.deepEqual(report.determinism?.mismatches, [], explain(report));
});

test('killing every replica of one expert: re-hosted within 15 s, served afterwards, texts unchanged', async () => {
  const { report, samples } = await runChaos({
    swarm, rate: 2, durationMs: 22_000, prompts: PROMPTS, maxTokens: 12, seedBase: 2000, log: silentLogger,
    plan: [{ atMs: 3000, kind: 'expert', expertId: 'L0.0', pick: 0, restartAfterMs: Infinity }],
  });
  process.stderr.write(formatChaosReport(report));
  const k = report.kills[0];
  assert.ok(k, explain(report));
  assert.ok(k.victims.length >= 2, `every replica of L0.0 killed: ${JSON.stringify(k.victims)}`);
  assert.ok(k.served_again_s !== null && k.served_again_s > 0, `L0.0 lost every replica, then came back: ${explain(report)}`);
  assert.ok(k.served_again_s! <= 15, `re-hosted after ${k.served_again_s} s: ${explain(report)}`);
  assert.ok(k.after.requests > 0 && k.after.failed === 0, `requests after recovery: ${explain(report)}`);
  // Requests through L0.0 afterwards succeed.
  const viaL00 = new Set<string>();
  for (const prompt of PROMPTS) {
    const r = await fetch(`${swarm.http}/v1/route`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt }) });
    if (((await r.json()) as { path: string[] }).path.includes('L0.0')) viaL00.add(prompt);
  }
  assert.ok(viaL00.size > 0, 'some prompts take L0.0');
  const late = samples.filter((s) => viaL00.has(s.prompt) && s.startMs > k.atMs + k.served_again_s! * 1000 + 3000);
  assert.ok(late.length > 0, 'requests through L0.0 after it was re-hosted');
  assert.ok(late.every((s) => s.ok), `every request through L0.0 started 3 s after the re-hosting succeeded: ${explain(report)}`);
  for (const s of samples.filter((x) => !x.ok)) {
    assert.equal(s.status, 503, `a failure is a 503 after the bounded wait, never ${s.status}: ${s.error}`);
    assert.ok(s.retryAfterS !== undefined && s.retryAfterS > 0, 'with Retry-After');
  }
  assert.deepEqual(report.determinism?.mismatches, [], explain(report));
  assert.equal(report.determinism?.compared, samples.filter((s) => s.ok).length);
});
