/**
 * An `--auto` newcomer's join view (expert-host/rebalancing/join-view.ts): a first view of the swarm
 * (two searches, then the records hosts know), then every expert looked at, only the uncovered ones
 * searched for. Over the in-memory Discovery fake (checked by the Discovery contract) and Info answered
 * from its records.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { joinView, type JoinViewComponents } from '../../../expert-host/rebalancing/join-view.ts';
import { chooseJoin } from '../../../expert-host/rebalancing/host-rebalancing.ts';
import { createSwarmView } from '../../../expert-host/rebalancing/swarm-view.ts';
import type { HostInfo } from '../../../shared/transport-types.ts';
import { createFakeDiscovery } from '../../fakes/discovery.ts';
import { prng } from './fixtures.ts';

const EXPERTS32 = Array.from({ length: 32 }, (_, i) => `L${Math.floor(i / 16)}.${i % 16}`);
const LOST = 'L1.9';

/** 62 hosts, two on every expert but LOST, which nobody serves. */
function swarm() {
  const fake = createFakeDiscovery();
  EXPERTS32.filter((e) => e !== LOST).forEach((e, i) => {
    for (let n = 0; n < 2; n++) fake.publish(fake.host({ peerId: `h${e}-${n}`, model: 'm', experts: [e], grpc: `g${i}-${n}` }));
  });
  const searched: string[] = [];
  let infos = 0;
  const components: JoinViewComponents = {
    replicas: (model, e, o) => { searched.push(e); return fake.replicas(model, e, o); },
    learn: (peers) => fake.learn!(peers),
    info: {
      async info(address: string): Promise<HostInfo> {
        infos++;
        const r = fake.records().find((x) => x.grpc === address)!;
        return { peerId: r.peerId, version: 't', model: 'm', experts: r.experts.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
          queueDepth: 0, throughput: 1, kvCapacityBytes: 1, kvFreeBytes: 1, state: 'ONLINE', device: 'cpu', maxContext: 64 };
      },
    },
    ownLoad: () => new Map(),
    served: () => [],
    clock: fake.now,
  };
  return { fake, searched, components, infos: () => infos };
}

const init = (peerId: string) => ({ model: 'm', experts: EXPERTS32, peerId, targetReplicas: 2 });

test('a newcomer in a 32-expert swarm decides on every expert: the first view covers the served ones, and only the uncovered one is searched for', async () => {
  const s = swarm();
  const { view, first } = await joinView(init('newcomer'), s.components, new AbortController().signal);
  // Nobody lists LOST, so the first view asks for its 3 rounds (3 hosts each; each shares all 62
  // records, of 62 hosts). Every record comes from several hosts: nothing for the audit to doubt.
  assert.deepEqual(first, { experts: 32, covered: 31, asked: 9, learnt: 62, doubted: 0, dropped: 0 });
  assert.deepEqual(view.experts, EXPERTS32, 'every expert looked at');
  // The first view's two searches (L0.0, L0.1), then the one expert no record lists.
  assert.deepEqual(s.searched, ['L0.0', 'L0.1', LOST]);
  assert.ok(s.infos() <= 32, 'Info probes stay within a check\'s budget');
  assert.equal(await chooseJoin(view, 'newcomer'), LOST, 'the expert nobody serves is joined');
});

test('without learn, or a model of few experts, the join view is a check\'s: a sampled view picks among 4 random experts of 32', async () => {
  let found = 0;
  for (let k = 0; k < 16; k++) {
    const s = swarm();
    const { learn: _, ...noLearn } = s.components;
    const { view, first } = await joinView(init(`newcomer${k}`), { ...noLearn, random: prng(k) }, new AbortController().signal);
    assert.equal(first, undefined);
    assert.equal(view.experts.length, 4, 'a sample');
    if (await chooseJoin(view, `newcomer${k}`) === LOST) found++;
  }
  // Found only when LOST is in the sample (1 in 8 on average): why the join takes a first view.
  assert.ok(found < 8, `the lost expert found by ${found} of 16 sampled newcomers`);
});

test('a first view that finds no one (a swarm starting) falls back to a check\'s view', async () => {
  const fake = createFakeDiscovery();
  const searched: string[] = [];
  const { view, first } = await joinView(init('first'), {
    replicas: (m, e, o) => { searched.push(e); return fake.replicas(m, e, o); },
    learn: (p) => fake.learn!(p), info: { info: async () => { throw new Error('nobody'); } }, ownLoad: () => new Map(), served: () => [], random: prng(3),
  }, new AbortController().signal);
  assert.deepEqual(first, { experts: 32, covered: 0, asked: 0, learnt: 0, doubted: 0, dropped: 0 });
  assert.equal(view.experts.length, 4, 'sampled, as a check');
  assert.equal(searched.length, 2 + 4, 'the two first-view searches, then the sample');
  assert.ok(EXPERTS32.includes((await chooseJoin(view, 'first'))!), 'joins some expert: all look unserved');
});

test('a seeded view is for one join only: the check\'s view of the same swarm is still sampled', async () => {
  const s = swarm();
  const check = createSwarmView(init('newcomer'), { ...s.components, random: prng(1) });
  assert.equal((await check(new AbortController().signal)).experts.length, 4);
});
