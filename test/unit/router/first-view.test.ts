/**
 * A joining router's first view of the swarm (shared/dht/first-view.ts, router/replica-pool.ts
 * `warm`): two provider searches, then the records the hosts found share, asked in rounds while
 * experts are missing. Over the in-memory Discovery fake (checked by the Discovery contract).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { FIRST_VIEW, firstView, learnAround, type AuditResult } from '../../../shared/dht/first-view.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createReplicaPool } from '../../../router/replica-pool.ts';
import { createFakeDiscovery } from '../../fakes/discovery.ts';
import { FakeHost } from './fakes.ts';

const EXPERTS = ['L0.0', 'L0.1', 'L0.2', 'L1.0', 'L1.1', 'L1.2'];

/** Hosts h0..h5, host i serving EXPERTS[i]; h6 serving another model's L0.1. */
function swarm() {
  const fake = createFakeDiscovery();
  EXPERTS.forEach((e, i) => fake.publish(fake.host({ peerId: `h${i}`, experts: [e], grpc: `127.0.0.1:${7000 + i}` })));
  fake.publish(fake.host({ peerId: 'other', model: 'else', experts: ['L0.1'] }));
  return fake;
}

test('firstView: two searches and one round of learning cover a swarm whose hosts know each other', async () => {
  const fake = swarm();
  const searched: string[] = [];
  const view = await firstView((e) => { searched.push(e); return fake.replicas('tiny', e); }, (p) => fake.learn!(p), 'tiny', EXPERTS, FIRST_VIEW, fake.now);
  assert.deepEqual(searched, ['L0.0', 'L0.1']);
  assert.deepEqual(fake.asked, ['h0', 'h1']);
  assert.deepEqual([...view.keys()], EXPERTS);
  assert.deepEqual(view.get('L0.1')!.map((r) => r.peerId), ['h1'], 'another model\'s host is left out');
});

test('firstView: hosts that know little are asked in rounds, at most `peers` new ones each, and experts nobody knows are left out', async () => {
  const fake = swarm();
  fake.publish(fake.host({ peerId: 'h1', experts: ['L0.1'], state: 'OFFLINE', seq: 1e15 }));
  // h0 knows h2; h2 knows h3; h3 knows h4; nobody knows h5 (and h1 is gone).
  fake.knows.set('h0', ['h2']).set('h2', ['h3']).set('h3', ['h4']).set('h4', []);
  const view = await firstView((e) => fake.replicas('tiny', e), (p) => fake.learn!(p), 'tiny', EXPERTS, { probes: 2, peers: 1, rounds: 3 }, fake.now);
  assert.deepEqual(fake.asked, ['h0', 'h2', 'h3']);
  assert.deepEqual([...view.keys()], ['L0.0', 'L0.2', 'L1.0', 'L1.1']);
  // No more rounds once every expert is covered.
  const all = swarm();
  await firstView((e) => all.replicas('tiny', e), (p) => all.learn!(p), 'tiny', EXPERTS, { probes: 2, peers: 1, rounds: 3 }, all.now);
  assert.deepEqual(all.asked, ['h0']);
});

test('firstView: a search or a learn that fails counts as nothing found', async () => {
  const view = await firstView(async () => { throw new Error('no answer'); }, async () => [], 'tiny', EXPERTS);
  assert.equal(view.size, 0);
  const fake = swarm();
  const v2 = await firstView((e) => fake.replicas('tiny', e), async () => { throw new Error('reset'); }, 'tiny', EXPERTS, FIRST_VIEW, fake.now);
  assert.deepEqual([...v2.keys()], ['L0.0', 'L0.1']);
});

/** A seeded uniform draw (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The swarm of `swarm()` plus a liar the searches find (it serves L0.0 too) that shares, besides
 * h2, 12 hosts that do not exist (records any key can sign), claiming the experts h2..h5 serve.
 */
function swarmWithLiar() {
  const fake = swarm();
  const madeUp = Array.from({ length: 12 }, (_, i) => `made-up${i}`);
  fake.publish(fake.host({ peerId: 'liar', experts: ['L0.0'] }));
  madeUp.forEach((p, i) => fake.publish(fake.host({ peerId: p, experts: [EXPERTS[2 + (i % 4)]] })));
  fake.knows.set('h0', ['h2', 'h3']).set('h1', ['h4', 'h5']).set('liar', ['h2', ...madeUp]);
  const live = new Set(['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'liar']);
  return { fake, madeUp, live };
}

test('firstView audit: a peer whose records do not answer is doubted and what only it vouched for is dropped; honest peers\' records, searched hosts and own records stand', async () => {
  const { fake, madeUp, live } = swarmWithLiar();
  const probed: string[] = [];
  let result: AuditResult | undefined;
  const view = await firstView((e) => fake.replicas('tiny', e), (p) => fake.learn!(p), 'tiny', EXPERTS, FIRST_VIEW, fake.now, {
    probe: async (r) => { probed.push(r.peerId); return live.has(r.peerId); }, random: seeded(1), onAudit: (a) => { result = a; },
  });
  const listed = new Set([...view.values()].flat().map((r) => r.peerId));
  assert.deepEqual([...listed].sort(), ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'liar']);
  assert.deepEqual(result, { probed: 3 + 1 + 2, doubted: 1, dropped: 12 }, 'the liar\'s 3, h0\'s h3 (h2 has two vouchers), h1\'s h4 and h5');
  assert.equal(probed.filter((p) => madeUp.includes(p)).length, 3, 'the liar\'s sample: 3 of its 12');
  assert.ok(!probed.some((p) => ['h0', 'h1', 'liar', 'h2'].includes(p)), `searched hosts and h2 (vouched for by two) are not probed: ${probed.join(' ')}`);
  // Without an audit the made-up hosts are in the view, as many holders as the real ones.
  const { fake: f2 } = swarmWithLiar();
  const open = await firstView((e) => f2.replicas('tiny', e), (p) => f2.learn!(p), 'tiny', EXPERTS, FIRST_VIEW, f2.now);
  assert.equal([...new Set([...open.values()].flat().map((r) => r.peerId))].length, 7 + 12);
});

test('firstView audit: an honest peer one of whose three sampled hosts died stays trusted; one with two dead is doubted', async () => {
  for (const [dead, doubted] of [[['h2'], 0], [['h2', 'h3'], 1]] as const) {
    const fake = swarm();
    fake.knows.set('h0', ['h2', 'h3', 'h4']).set('h1', []);
    let result: AuditResult | undefined;
    const view = await firstView((e) => fake.replicas('tiny', e), (p) => fake.learn!(p), 'tiny', EXPERTS, { rounds: 1 }, fake.now, {
      probe: async (r) => !(dead as readonly string[]).includes(r.peerId), random: seeded(2), onAudit: (a) => { result = a; },
    });
    assert.equal(result?.doubted, doubted);
    assert.deepEqual([...new Set([...view.values()].flat().map((r) => r.peerId))].sort(),
      doubted ? ['h0', 'h1'] : ['h0', 'h1', 'h2', 'h3', 'h4'], `dead: ${dead.join(' ')}`);
  }
});

test('learnAround (swarmpath ls): the hosts found are asked in rounds while new hosts turn up; newest record per host; other models kept', async () => {
  const fake = swarm();
  fake.publish(fake.host({ peerId: 'h2', experts: ['L1.1'], seq: 1e15 })); // h2 moved: its newer record
  // h0 knows h2; h2 knows h3; h3 knows nobody new; h4, h5 and 'other' are known to no one asked.
  fake.knows.set('h0', ['h2']).set('h2', ['h3']).set('h3', []);
  const h0 = fake.records().find((r) => r.peerId === 'h0')!;
  const stale = { ...fake.records().find((r) => r.peerId === 'h2')!, experts: ['L0.2'], seq: 1 };
  const listed = await learnAround([h0], (p) => fake.learn!(p), { peers: 1, rounds: 5 });
  assert.deepEqual(fake.asked, ['h0', 'h2', 'h3'], 'one new host a round; stops when a round brings no one new');
  assert.deepEqual(listed.map((r) => r.peerId).sort(), ['h0', 'h2', 'h3']);
  fake.asked.length = 0;
  const updated = await learnAround([h0, stale], (p) => fake.learn!(p), { peers: 1, rounds: 5 });
  assert.deepEqual(updated.find((r) => r.peerId === 'h2')!.experts, ['L1.1'], 'the higher seq wins');
  assert.deepEqual(fake.asked, ['h0'], 'a newer record of a host already listed is no new host: no further round');
  // Hosts that know everyone: one round finds the whole swarm, another model's host included.
  const all = swarm();
  const everyone = await learnAround([all.records().find((r) => r.peerId === 'h5')!], (p) => all.learn!(p));
  assert.deepEqual(everyone.map((r) => r.peerId).sort(), ['h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'other']);
  // A failed ask is nothing learnt; nothing found is nothing to ask.
  assert.deepEqual((await learnAround([h0], async () => { throw new Error('reset'); })).map((r) => r.peerId), ['h0']);
  assert.deepEqual(await learnAround([], async () => { throw new Error('never asked'); }), []);
  // No round starts at or after `until`: each round here takes 10 ms of the test's clock.
  const timed = swarm();
  timed.knows.set('h0', ['h2']).set('h2', ['h3']).set('h3', ['h4']);
  let t = 0;
  const slow = async (p: readonly string[]) => { t += 10; return timed.learn!(p); };
  await learnAround([timed.records().find((r) => r.peerId === 'h0')!], slow, { peers: 1, rounds: 5 }, 20, () => t);
  assert.deepEqual(timed.asked, ['h0', 'h2'], 'rounds at t=0 and t=10, none at t=20');
});

test('pool.warm: every expert is served from the first view while its own search has not answered', { timeout: 5000 }, async () => {
  const fake = swarm();
  const fleet = EXPERTS.map((e, i) => new FakeHost(`h${i}`, [e]));
  // Searches for anything but the two probes hang until released: before the first view, readiness waited on them.
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const searched: string[] = [];
  const discovery = {
    ...fake,
    replicas: async (model: string, e: string, o?: { signal?: AbortSignal }): Promise<HostRecord[]> => {
      searched.push(e);
      if (!FIRST_VIEW_PROBES.includes(e)) await released;
      return fake.replicas(model, e, o);
    },
    learn: fake.learn!.bind(fake),
  };
  const pool = createReplicaPool({ model: 'tiny', noReplicaWaitMs: 100, pollMs: 10 }, {
    discovery, balancer: new ReplicaBalancer(), log: silentLogger, clock: fake.now,
    connect: (a) => fleet[Number(a.split(':')[1]) - 7000].client(),
  });
  pool.warm(EXPERTS);
  const r = await pool.readiness(EXPERTS);
  assert.deepEqual(r, { ready: true, missing: [] });
  assert.deepEqual(fake.asked, ['h0', 'h1']);
  // The background refreshes of the seeded experts do search (stale-while-revalidate), but nothing waited on them.
  assert.deepEqual(searched.slice(0, 2), FIRST_VIEW_PROBES);
  release();
  pool.close();
});

const FIRST_VIEW_PROBES = EXPERTS.slice(0, FIRST_VIEW.probes);

test('pool.warm without learn (a discovery that cannot) searches for every expert, as before', async () => {
  const fake = swarm();
  const { learn: _unused, ...plain } = fake;
  const searched: string[] = [];
  const pool = createReplicaPool({ model: 'tiny', noReplicaWaitMs: 100, pollMs: 10 }, {
    discovery: { ...plain, replicas: (m: string, e: string, o?: { signal?: AbortSignal }) => { searched.push(e); return fake.replicas(m, e, o); } },
    balancer: new ReplicaBalancer(), log: silentLogger, clock: fake.now, connect: () => new FakeHost('x', []).client(),
  });
  pool.warm(EXPERTS);
  assert.deepEqual(searched.sort(), [...EXPERTS].sort());
  pool.close();
});
