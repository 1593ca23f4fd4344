/** The chaos suite's pure parts: the seeded kill plan, victim choice, and the report's windows. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { CONFIRM_ROUNDS, killUntilUnserved, pickVictims, planChaos, type LiveHost } from '../../../loadtest/chaos/kill-plan.ts';
import { chaosReport, windowStats } from '../../../loadtest/chaos/report.ts';
import { parseSse, requestParams, type ChaosSample } from '../../../loadtest/chaos/load-driver.ts';
import type { ReplicaSample } from '../../../loadtest/chaos/replica-watch.ts';

const plan = { seed: 3, durationMs: 120_000, warmupMs: 10_000, cooldownMs: 20_000, killEveryMs: 15_000, expertKillShare: 0.3, restartAfterMs: [5000, 12_000] as [number, number] };

test('the kill plan is seeded, stays between warm-up and cool-down, and spaces kills by 0.5-1.5 intervals', () => {
  const a = planChaos(plan);
  assert.deepEqual(a, planChaos(plan), 'same seed, same plan');
  assert.notDeepEqual(a, planChaos({ ...plan, seed: 4 }));
  assert.ok(a.length >= 4 && a.length <= 12, `${a.length} kills`);
  assert.ok(a.every((k) => k.atMs >= 10_000 && k.atMs < 100_000));
  for (let i = 1; i < a.length; i++) {
    const gap = a[i].atMs - a[i - 1].atMs;
    assert.ok(gap >= 7500 - 1 && gap <= 22_500 + 1, `gap ${gap}`);
  }
  assert.ok(a.every((k) => k.restartAfterMs >= 5000 && k.restartAfterMs <= 12_000));
  const many = planChaos({ ...plan, durationMs: 3_000_000, cooldownMs: 0 });
  const share = many.filter((k) => k.kind === 'expert').length / many.length;
  assert.ok(share > 0.2 && share < 0.4, `expert-kill share ${share}`);
  assert.ok(planChaos({ ...plan, restartAfterMs: [Infinity, Infinity] }).every((k) => k.restartAfterMs === Infinity));
});

test('request i has seed seedBase + i, round-robin prompts, every third streamed', () => {
  const init = { prompts: ['a', 'b'], maxTokens: 5, seedBase: 100 };
  assert.deepEqual(requestParams(init, 0), { prompt: 'a', seed: 100, maxTokens: 5, temperature: 0.8, stream: false });
  assert.deepEqual(requestParams(init, 5), { prompt: 'b', seed: 105, maxTokens: 5, temperature: 0.8, stream: true });
  assert.equal(requestParams({ ...init, streamEvery: 0 }, 2).stream, false);
});

test('victims: one host by index, or every host serving the chosen expert', () => {
  const live = [{ pid: 1, experts: ['A'] }, { pid: 2, experts: ['A', 'B'] }, { pid: 3, experts: ['B'] }, { pid: 4, experts: ['C'] }];
  assert.deepEqual(pickVictims({ kind: 'one', pick: 0.6 }, live).victims.map((h) => h.pid), [3]);
  const b = pickVictims({ kind: 'expert', pick: 0.5 }, live);
  assert.equal(b.expertId, 'B');
  assert.deepEqual(b.victims.map((h) => h.pid), [2, 3]);
  assert.deepEqual(pickVictims({ kind: 'expert', pick: 0, expertId: 'C' }, live).victims.map((h) => h.pid), [4]);
  assert.deepEqual(pickVictims({ kind: 'one', pick: 0.2 }, []).victims, []);
});

function sample(index: number, startMs: number, endMs: number, ok = true, status = 200): ChaosSample {
  return { index, prompt: 'p', seed: index, stream: false, startMs, endMs, status, ok, ...(ok ? { text: 't' } : {}) };
}

test('SSE bodies: text is the concatenation of chunks; no [DONE] or an error event is a failure', () => {
  const ev = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const body = ev({ choices: [{ text: 'Hel' }], swarmpath: { hosts: ['a'] } }) + ev({ choices: [{ text: 'lo' }], swarmpath: { hosts: ['a', 'b'] } }) +
    ev({ choices: [{ text: '' }], swarmpath: { hosts: ['a', 'b'], replays: 1 } }) + 'data: [DONE]\n\n';
  assert.deepEqual(parseSse(body), { ok: true, text: 'Hello', hosts: ['a', 'b'], replays: 1 });
  assert.equal(parseSse(ev({ choices: [{ text: 'x' }] })).ok, false);
  assert.match(parseSse(ev({ choices: [{ text: 'x' }] }) + ev({ error: { message: 'boom' } })).error ?? '', /boom/);
});

test('window stats: counts, 503 with Retry-After, nearest-rank percentiles of successes', () => {
  const s = [sample(0, 0, 100), sample(1, 0, 300), sample(2, 0, 200), { ...sample(3, 0, 50, false, 503), retryAfterS: 5 }, sample(4, 0, 10, false, 0)];
  assert.deepEqual(windowStats(s), { requests: 5, ok: 3, failed: 2, failed_503_retry_after: 1, p50_ms: 200, p99_ms: 300 });
});

test('report: served again and recovery from the replica samples; before / during / after windows', () => {
  const replicas: ReplicaSample[] = [
    { tMs: 900, counts: { A: 2, B: 2 } },
    { tMs: 1100, counts: { A: 0, B: 2 } },
    { tMs: 4000, counts: { A: 1, B: 2 } },
    { tMs: 9000, counts: { A: 2, B: 2 } },
  ];
  const samples = [
    sample(0, 0, 500), sample(1, 600, 900),             // before
    sample(2, 900, 3000), sample(3, 2000, 2500, false, 503), // during
    sample(4, 9100, 9300), sample(5, 12_000, 12_100),   // after (window 5 s from 9000)
    sample(6, 20_000, 20_100),                          // later
  ];
  const r = chaosReport({ samples, replicas, target: 2, windowMs: 5000, kills: [{ atMs: 1000, kind: 'expert', expertId: 'A', victims: [{ pid: 9, experts: ['A'] }] }] });
  const k = r.kills[0];
  assert.equal(k.served_again_s, 3);
  assert.equal(k.recovery_s, 8);
  assert.equal(k.after_from, 'recovered');
  assert.equal(k.before.requests, 2);
  assert.equal(k.during.requests, 2);
  assert.equal(k.during.failed, 1);
  assert.equal(k.after.requests, 2);
  assert.equal(r.requests, 7);
  assert.equal(r.failed, 1);
  assert.equal(r.recovery_s, 8);
});

test('report: a kill that left a replica is served again at 0 s; one never recovered says so', () => {
  const replicas: ReplicaSample[] = [{ tMs: 1200, counts: { A: 1, B: 2 } }, { tMs: 5000, counts: { A: 1, B: 2 } }];
  const r = chaosReport({ samples: [sample(0, 2000, 2100)], replicas, target: 2, windowMs: 5000, kills: [{ atMs: 1000, kind: 'one', victims: [{ pid: 9, experts: ['A'] }] }] });
  assert.equal(r.kills[0].served_again_s, 0);
  assert.equal(r.kills[0].recovery_s, null);
  assert.equal(r.kills[0].after_from, 'served-again');
  assert.equal(r.recovery_s, null);
});

test('report: a gap the harness confirmed counts even when every watch sample saw the expert served', () => {
  // A host's move into A landed 150 ms after its replicas were killed, between two watch rounds.
  const replicas: ReplicaSample[] = [{ tMs: 900, counts: { A: 2, B: 2 } }, { tMs: 1150, counts: { A: 1, B: 2 } }, { tMs: 1400, counts: { A: 1, B: 2 } }];
  const kill = { atMs: 1000, kind: 'expert' as const, expertId: 'A', victims: [{ pid: 8, experts: ['A'] }, { pid: 9, experts: ['A'] }] };
  assert.equal(chaosReport({ samples: [], replicas, target: 2, windowMs: 5000, kills: [kill] }).kills[0].served_again_s, 0, 'the watch alone saw no gap');
  assert.equal(chaosReport({ samples: [], replicas, target: 2, windowMs: 5000, kills: [{ ...kill, unservedAtMs: 1020 }] }).kills[0].served_again_s, 0.2);
});

test('report: a round that still reached the dying victims right after the kill is not a recovery', () => {
  const replicas: ReplicaSample[] = [
    { tMs: 1010, counts: { A: 2, B: 2 } }, // began 10 ms after the SIGKILL: the victims still answered
    { tMs: 1260, counts: { A: 1, B: 2 } },
    { tMs: 3000, counts: { A: 2, B: 2 } },
  ];
  const one = chaosReport({ samples: [], replicas, target: 2, windowMs: 5000, kills: [{ atMs: 1000, kind: 'one', victims: [{ pid: 9, experts: ['A'] }] }] });
  assert.equal(one.kills[0].recovery_s, 2);
  const expert = chaosReport({ samples: [], replicas, target: 2, windowMs: 5000, kills: [{ atMs: 1000, kind: 'expert', expertId: 'A', unservedAtMs: 1100, victims: [{ pid: 8, experts: ['A'] }, { pid: 9, experts: ['A'] }] }] });
  assert.equal(expert.kills[0].served_again_s, 0.3);
  assert.equal(expert.kills[0].recovery_s, 2);
});

test('an expert kill also kills hosts that start serving the expert after the victims were picked', async () => {
  type H = LiveHost & { name: string };
  const a: H = { name: 'a', pid: 1, experts: ['A'] };
  const b: H = { name: 'b', pid: 2, experts: ['A', 'B'] };
  const mover: H = { name: 'mover', pid: 3, experts: ['B'] };
  const c: H = { name: 'c', pid: 4, experts: ['B'] };
  const alive = new Set([a, b, mover, c]);
  const killedOrder: string[] = [];
  let rounds = 0;
  let t = 0;
  const lookup = async () => {
    rounds++;
    // The mover's move into A was in flight when the victims were picked; it serves A from the first look on.
    if (rounds === 1) mover.experts = ['A', 'B'];
    return [...alive];
  };
  const kill = (h: H) => { alive.delete(h); killedOrder.push(h.name); };
  const gone = async (h: H) => { killedOrder.push(`${h.name} gone`); return true; };
  const picked = pickVictims({ kind: 'expert', pick: 0, expertId: 'A' }, [...alive]).victims;
  const r = await killUntilUnserved({ expertId: 'A', victims: picked, lookup, kill, gone, now: () => t += 10 });
  assert.deepEqual(killedOrder, ['a', 'b', 'a gone', 'b gone', 'mover', 'mover gone'], 'each round waits for its victims to be gone before it asks');
  assert.deepEqual(r.killed.map((h) => h.name), ['a', 'b', 'mover']);
  assert.equal(r.unservedAtMs, 20, 'confirmed by the second round, which began at t = 20');
  assert.deepEqual([...alive].map((h) => h.name), ['c']);

  // A host that keeps coming back to A (the rounds run out) is reported, not confirmed.
  const stubborn = () => [{ name: `s${rounds++}`, pid: 100 + rounds, experts: ['A'] } as H];
  const r2 = await killUntilUnserved({ expertId: 'A', victims: [a], lookup: async () => stubborn(), kill: () => {}, gone: async () => true, now: () => 0 });
  assert.equal(r2.unservedAtMs, undefined);
  assert.equal(r2.killed.length, 1 + CONFIRM_ROUNDS);

  // A victim that still answers is no confirmation.
  const r3 = await killUntilUnserved({ expertId: 'A', victims: [a], lookup: async () => [], kill: () => {}, gone: async () => false, now: () => 0 });
  assert.equal(r3.unservedAtMs, undefined);
});
