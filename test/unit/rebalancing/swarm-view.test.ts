import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createSwarmView, sampleSize } from '../../../expert-host/rebalancing/swarm-view.ts';
import { decideRebalance, moveStillWorthwhile } from '../../../expert-host/rebalancing/decide.ts';
import { SwarmpathError } from '../../../shared/errors.ts';
import type { HostInfo, HostRecord } from '../../../shared/transport-types.ts';
import { prng, rec } from './fixtures.ts';

const EXPERTS32 = Array.from({ length: 32 }, (_, i) => `L${Math.floor(i / 16)}.${i % 16}`);

/** A swarm of `n` one-expert hosts spread evenly over `experts`; `dead` hosts refuse Info but keep their records. */
function swarm(n: number, experts: readonly string[], dead: ReadonlySet<string> = new Set()) {
  const records = Array.from({ length: n }, (_, i) => rec(`p${i}`, [experts[i % experts.length]], { grpc: `g${i}` }));
  const calls = { replicas: 0, info: 0 };
  const info = (r: HostRecord): HostInfo => ({
    peerId: r.peerId, version: 't', model: 'm', experts: r.experts.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
    queueDepth: 0, throughput: 1, kvCapacityBytes: 1, kvFreeBytes: 1, state: 'ONLINE', device: 'cpu', maxContext: 64,
  });
  const components = {
    async replicas(_model: string, expertId: string) {
      calls.replicas++;
      return records.filter((r) => r.experts.includes(expertId));
    },
    info: {
      async info(address: string) {
        calls.info++;
        const r = records.find((x) => x.grpc === address)!;
        if (dead.has(r.peerId)) throw new SwarmpathError('UNAVAILABLE', 'connection refused');
        return info(r);
      },
    },
    ownLoad: () => new Map(),
    served: () => [experts[0]],
  };
  return { records, calls, components };
}

/** A view over fixed `records` whose hosts named by `isDead` refuse Info; `looked` lists the lookups made. */
function viewOver(records: readonly HostRecord[], isDead: (peerId: string) => boolean, seed: number) {
  const looked: string[] = [];
  const v = createSwarmView({ model: 'm', experts: EXPERTS32, peerId: 'self', targetReplicas: 2, sampleExperts: 0 }, {
    async replicas(_m: string, e: string) { looked.push(e); return records.filter((r) => r.experts.includes(e)); },
    info: {
      async info(address: string): Promise<HostInfo> {
        const r = records.find((x) => x.grpc === address)!;
        if (isDead(r.peerId)) throw new SwarmpathError('UNAVAILABLE', 'connection refused');
        return { peerId: r.peerId, version: 't', model: 'm', experts: r.experts.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
          queueDepth: 0, throughput: 1, kvCapacityBytes: 1, kvFreeBytes: 1, state: 'ONLINE', device: 'cpu', maxContext: 64 };
      },
    },
    ownLoad: () => new Map(), served: () => ['L0.0'], random: prng(seed), clock: () => 0,
  });
  return { v, looked };
}

const view = (s: ReturnType<typeof swarm>, experts: readonly string[], seed = 1, clock = () => 0) =>
  createSwarmView({ model: 'm', experts, peerId: 'self', targetReplicas: 2 }, { ...s.components, random: prng(seed), clock });

test('a check of a large model costs a few lookups and a bounded number of Info calls, whatever the swarm size', async () => {
  const cost: string[] = [];
  for (const n of [128, 256, 1024]) {
    const s = swarm(n, EXPERTS32);
    const input = await view(s, EXPERTS32)(new AbortController().signal);
    assert.equal(input.experts.length, 5, 'own expert + 4 sampled');
    assert.ok(input.experts.includes(EXPERTS32[0]));
    assert.equal(input.hosts.length, (n / 32) * 5, 'every holder of the experts looked at');
    cost.push(`${s.calls.replicas}/${s.calls.info}`);
  }
  // Lookups: 5. Info: 3 holders of the own expert + 4 sampled others.
  assert.deepEqual(cost, ['5/7', '5/7', '5/7']);
});

test('after the first check the sample shrinks as the swarm grows: a host looks up fewer experts per check in a larger swarm', async () => {
  const perCheck: number[] = [];
  for (const n of [128, 512, 2048]) {
    let now = 0;
    const s = swarm(n, EXPERTS32);
    const v = view(s, EXPERTS32, 7, () => now);
    await v(new AbortController().signal);
    const after1 = s.calls.replicas;
    assert.equal(after1, 5, 'the first check (no measure of the swarm yet): own + 4 sampled');
    for (let i = 0; i < 200; i++) { now += 60_000; await v(new AbortController().signal); }
    perCheck.push((s.calls.replicas - after1) / 200);
  }
  // own (1) + 2 x own / holders per expert: 1 + 2/5, 1 + 2/17, 1 + 2/65 (self counts as a holder).
  const expected = [1 + 2 / 5, 1 + 2 / 17, 1 + 2 / 65];
  perCheck.forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 0.08, `lookups per check ${perCheck.join(', ')} vs ${expected.join(', ')}`));
});

test('sampleSize: coverage x own / holders per expert, capped, its fraction drawn', () => {
  assert.equal(sampleSize({}, 1, undefined, () => 0.5), 4, 'no measure yet: the cap');
  assert.equal(sampleSize({}, 1, 0.5, () => 0.5), 4, 'a thin swarm: the cap');
  assert.equal(sampleSize({ sampleExperts: 2 }, 3, 1, () => 0.5), 2);
  assert.equal(sampleSize({}, 1, 8, () => 0.24), 1, '2/8 = 0.25: drawn below');
  assert.equal(sampleSize({}, 1, 8, () => 0.26), 0, 'and above');
  assert.equal(sampleSize({ sampleCoverage: 4 }, 2, 8, () => 0.99), 1);
});

test('a dead holder of an own expert makes its other experts looked up in the same check: a lost expert is seen at once', async () => {
  // p0 (dead) served L0.0, this host's expert, and L1.5, whose other holder p1 is dead too.
  const records = [rec('p0', ['L0.0', 'L1.5'], { grpc: 'g0' }), rec('p1', ['L1.5'], { grpc: 'g1' }),
    ...Array.from({ length: 64 }, (_, i) => rec(`q${i}`, [EXPERTS32[i % 32]], { grpc: `h${i}` })).filter((r) => !r.experts.includes('L1.5'))];
  const { v, looked } = viewOver(records, (p) => p === 'p0' || p === 'p1', 3);
  const input = await v(new AbortController().signal);
  assert.deepEqual(looked, ['L0.0', 'L1.5'], 'the own expert, then the dead holder\'s other one');
  assert.deepEqual(input.experts, ['L0.0', 'L1.5']);
  assert.ok(!input.hosts.some((h) => h.experts.includes('L1.5')), 'L1.5 is seen unserved');
  looked.length = 0;
  await v(new AbortController().signal);
  assert.ok(looked.includes('L1.5'), 'and stays watched');
});

test('a small model is looked at whole; a thinly served expert is watched at every later check', async () => {
  const experts8 = EXPERTS32.slice(0, 8);
  const s = swarm(16, experts8);
  assert.deepEqual((await view(s, experts8)(new AbortController().signal)).experts, experts8);
  // 32 experts, 2 holders each (thin): after one check every expert looked at stays watched.
  const big = swarm(64, EXPERTS32);
  const v = view(big, EXPERTS32);
  const first = await v(new AbortController().signal);
  const second = await v(new AbortController().signal);
  assert.ok(first.experts.every((e) => second.experts.includes(e)), 'thin experts are looked at again');
  assert.ok(second.experts.length > first.experts.length, 'and new ones are sampled');
});

test('answers are reused for aliveTtlMs: a second check soon after asks only newly sampled hosts', async () => {
  let now = 0;
  const s = swarm(128, EXPERTS32);
  const v = view(s, EXPERTS32, 1, () => now);
  await v(new AbortController().signal);
  const first = s.calls.info;
  now += 10_000;
  await v(new AbortController().signal);
  assert.ok(s.calls.info - first <= 4, `only newly sampled hosts are asked (${s.calls.info - first})`);
  now += 31_000;
  await v(new AbortController().signal);
  assert.ok(s.calls.info - first >= 3, 'after the TTL the own expert\'s holders are asked again');
});

test('thinly served experts are probed in full: a dead sole holder leaves its expert unserved', async () => {
  const experts = ['L0.0', 'L0.1', 'L1.0', 'L1.1'];
  const s = swarm(8, experts, new Set(['p1', 'p5']));
  const input = await view(s, experts)(new AbortController().signal);
  const served = (e: string) => input.hosts.filter((h) => h.experts.includes(e)).length;
  assert.equal(served('L0.1'), 0, 'both holders of L0.1 refused Info');
  assert.equal(served('L0.0'), 2);
  assert.equal(s.calls.info, 8);
});

test('a dead host found by the sample makes its expert suspect: every holder of it is probed', async () => {
  // 320 hosts, 10 per expert; every holder of L1.5 is dead (index 21 mod 32).
  const dead = new Set(Array.from({ length: 10 }, (_, k) => `p${21 + 32 * k}`));
  const s = swarm(320, EXPERTS32, dead);
  const components = { ...s.components, random: () => 0.999 };
  let input;
  // The sample is random: some check soon draws a dead holder; every check is bounded.
  for (let check = 0; check < 40; check++) {
    const before = s.calls.info;
    input = await createSwarmView({ model: 'm', experts: EXPERTS32, peerId: 'self', targetReplicas: 2 },
      { ...components, random: prng(check + 1) })(new AbortController().signal);
    assert.ok(s.calls.info - before <= 32);
    if (input.experts.includes('L1.5') && !input.hosts.some((h) => h.experts.includes('L1.5'))) break;
  }
  assert.ok(input && input.experts.includes('L1.5') && !input.hosts.some((h) => h.experts.includes('L1.5')), 'L1.5 is seen unserved');
});

test('a probed host\'s experts come from its Info answer, not its (older) record', async () => {
  const experts = ['L0.0', 'L0.1'];
  const s = swarm(4, experts);
  // p1's record still lists L0.1, but it moved to L0.0 (its provider entry for L0.1 lingers).
  s.components.info.info = async (address: string) => {
    s.calls.info++;
    const r = s.records.find((x) => x.grpc === address)!;
    const now = r.peerId === 'p1' ? ['L0.0'] : r.experts;
    return { peerId: r.peerId, version: 't', model: 'm', experts: now.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
      queueDepth: 0, throughput: 1, kvCapacityBytes: 1, kvFreeBytes: 1, state: 'ONLINE', device: 'cpu', maxContext: 64 };
  };
  const input = await view(s, experts)(new AbortController().signal);
  assert.deepEqual(input.hosts.find((h) => h.peerId === 'p1')!.experts, ['L0.0']);
  assert.equal(input.hosts.filter((h) => h.experts.includes('L0.1')).length, 1);
});

test('a host that is only slow (deadline exceeded) stays in the view', async () => {
  const experts = ['L0.0', 'L0.1'];
  const s = swarm(4, experts);
  s.components.info.info = async () => { s.calls.info++; throw new SwarmpathError('DEADLINE_EXCEEDED', 'slow'); };
  const input = await view(s, experts)(new AbortController().signal);
  assert.equal(input.hosts.length, 4);
});

test('supply counts only holders whose claim passes its probe: a liar is left out, an unverifiable claim does not count', async () => {
  const experts4 = EXPERTS32.slice(0, 4);
  const s = swarm(8, experts4);
  // p1 claims L0.1 but computes something else; p2's probe call fails (flaky): its claim is not counted yet.
  const verified: string[] = [];
  const components = {
    ...s.components,
    info: {
      ...s.components.info,
      async verify(address: string, expertId: string): Promise<'ok' | 'mismatch'> {
        const r = s.records.find((x) => x.grpc === address)!;
        verified.push(`${r.peerId} ${expertId}`);
        if (r.peerId === 'p2') throw new SwarmpathError('UNAVAILABLE', 'reset');
        return r.peerId === 'p1' ? 'mismatch' : 'ok';
      },
    },
  };
  const v = createSwarmView({ model: 'm', experts: experts4, peerId: 'self', targetReplicas: 2 }, { ...components, random: prng(1), clock: () => 0 });
  const input = await v(new AbortController().signal);
  const holders = (e: string) => input.hosts.filter((h) => h.experts.includes(e)).map((h) => h.peerId).sort();
  assert.ok(verified.includes('p1 L0.1'), 'the liar was probed');
  assert.deepEqual(holders('L0.1'), ['p5'], 'the liar does not count as supply of L0.1');
  assert.ok(!input.hosts.some((h) => h.peerId === 'p1'), 'nor as a host at all');
  assert.deepEqual(holders('L0.2'), ['p6'], "p2's unverified claim does not count");
  assert.deepEqual(holders('L0.0'), ['p0', 'p4']);
  // The next check does not probe verified claims again, and keeps the liar out without asking it.
  const before = verified.length;
  await v(new AbortController().signal);
  assert.ok(!verified.slice(before).some((x) => x.startsWith('p0 ') || x.startsWith('p1 ')), verified.slice(before).join(','));
});

test('with identity checks, a holder whose endpoint cannot sign for its record is left out', async () => {
  const { generateKeyPair } = await import('@libp2p/crypto/keys');
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id');
  const { signInfoNonce } = await import('../../../shared/identity.ts');
  const experts2 = EXPERTS32.slice(0, 2);
  const keys = await Promise.all([0, 1, 2, 3].map(() => generateKeyPair('Ed25519')));
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
  const records = ids.map((id, i) => rec(id, [experts2[i % 2]], { grpc: `g${i}` }));
  // The host at g1 signs with another key than its record's (a record borrowing someone's endpoint).
  const signer = (i: number) => keys[i === 1 ? 3 : i];
  const v = createSwarmView({ model: 'm', experts: experts2, peerId: 'self', targetReplicas: 2, checkIdentity: true }, {
    async replicas(_m: string, e: string) { return records.filter((r) => r.experts.includes(e)); },
    info: {
      async info(address: string, _d: number, _s?: AbortSignal, nonce?: Uint8Array): Promise<HostInfo> {
        const i = records.findIndex((r) => r.grpc === address);
        const sig = nonce ? await signInfoNonce((d) => signer(i).sign(d), nonce) : undefined;
        return {
          peerId: records[i].peerId, version: 't', model: 'm', experts: records[i].experts.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: 0 })),
          queueDepth: 0, throughput: 1, kvCapacityBytes: 1, kvFreeBytes: 1, state: 'ONLINE', device: 'cpu', maxContext: 64, ...(sig ? { identitySignature: sig } : {}),
        };
      },
    },
    ownLoad: () => new Map(), served: () => [], random: prng(1), clock: () => 0,
  });
  const input = await v(new AbortController().signal);
  assert.deepEqual(input.hosts.map((h) => h.peerId).sort(), [ids[0], ids[2], ids[3]].sort());
});

test('a focused view (a move\'s confirmation) looks up and probes the holders of the named experts only, with the last full view\'s demand', async () => {
  const s = swarm(320, EXPERTS32);
  const looked: string[] = [];
  const asked: string[] = [];
  const v = createSwarmView({ model: 'm', experts: EXPERTS32, peerId: 'self', targetReplicas: 2 }, {
    ...s.components, random: prng(1), clock: () => 0,
    replicas: async (m: string, e: string) => { looked.push(e); return s.components.replicas(m, e); },
    info: { info: async (address: string) => { asked.push(address); return s.components.info.info(address); } },
  });
  const full = await v(new AbortController().signal);
  looked.length = 0;
  asked.length = 0;
  const focused = await v.focused(new AbortController().signal, ['L0.0', 'L1.3']);
  assert.deepEqual(looked, ['L0.0', 'L1.3'], 'two lookups, not a check\'s sample');
  const holders = new Set(s.records.filter((r) => r.experts.includes('L0.0') || r.experts.includes('L1.3')).map((r) => r.grpc));
  assert.ok(asked.every((a) => holders.has(a)), `only holders of the two are probed: ${asked.join(', ')}`);
  assert.ok(focused.hosts.every((h) => h.experts.includes('L0.0') || h.experts.includes('L1.3')));
  assert.equal(focused.hosts.filter((h) => h.experts.includes('L1.3')).length, 10, 'every holder of the target counts');
  assert.equal(focused.demand, full.demand, 'the demand the decision was made on');
  assert.deepEqual(focused.experts, EXPERTS32.filter((e) => full.experts.includes(e) || e === 'L1.3'), 'the experts decided on, and the target');
});

test('a focused view sees a target whose holders died as unserved, and keeps to its experts', async () => {
  // Every holder of L1.5 is dead; one of them also served L0.2, which the focused view must not look up.
  const records = [rec('d0', ['L1.5', 'L0.2'], { grpc: 'g0' }), rec('d1', ['L1.5'], { grpc: 'g1' }),
    rec('a0', ['L0.0'], { grpc: 'h0' }), rec('a1', ['L0.0'], { grpc: 'h1' }), rec('a2', ['L0.0'], { grpc: 'h2' }), rec('b0', ['L0.2'], { grpc: 'h3' })];
  const { v, looked } = viewOver(records, (p) => p.startsWith('d'), 5);
  const input = await v.focused(new AbortController().signal, ['L0.0', 'L1.5']);
  assert.deepEqual(looked, ['L0.0', 'L1.5']);
  assert.equal(input.hosts.filter((h) => h.experts.includes('L1.5')).length, 0, 'L1.5 unserved');
  assert.equal(input.hosts.filter((h) => h.experts.includes('L0.0')).length, 3);
  assert.deepEqual(input.experts, EXPERTS32, 'before any full view: every expert of the model (demand weights over all)');
  // Nothing of it stays behind: the next full check (no random sample here) looks at the own expert only.
  looked.length = 0;
  await v(new AbortController().signal);
  assert.deepEqual(looked, ['L0.0'], 'L1.5 was not put on the watch list by a focused view');
});

test('an expert whose lookup got no answer is left out of the decision, not seen unserved; an own one stays, with this host only', async () => {
  const experts4 = EXPERTS32.slice(0, 4);
  const s = swarm(8, experts4);
  const silent = new Set(['L0.1', 'L0.0']);
  const v = createSwarmView({ model: 'm', experts: experts4, peerId: 'self', targetReplicas: 2 }, {
    ...s.components, random: prng(2), clock: () => 0,
    replicas: async (m: string, e: string) => {
      if (silent.has(e)) throw new SwarmpathError('UNAVAILABLE', 'the provider search got no answer within 3000 ms');
      return s.components.replicas(m, e);
    },
  });
  const input = await v(new AbortController().signal);
  assert.deepEqual(input.experts, ['L0.0', 'L0.2', 'L0.3'], 'L0.1 (no answer) is not an expert to move to');
  assert.equal(input.hosts.filter((h) => h.experts.includes('L0.0')).length, 0, 'the own expert counts this host alone: it will not leave it');
  assert.deepEqual(decideRebalance({ ...input, self: { peerId: 'self', experts: ['L0.0'] } }), { type: 'stay' });
  // Answered again: L0.1 is looked at (it stayed watched) and served.
  silent.clear();
  const next = await v(new AbortController().signal);
  assert.ok(next.experts.includes('L0.1') && next.hosts.some((h) => h.experts.includes('L0.1')));
});

test('a focused view whose target got no answer leaves it out: the move is not confirmed', async () => {
  const experts4 = EXPERTS32.slice(0, 4);
  const s = swarm(8, experts4);
  const v = createSwarmView({ model: 'm', experts: experts4, peerId: 'self', targetReplicas: 2 }, {
    ...s.components, random: prng(2), clock: () => 0,
    replicas: async (m: string, e: string) => {
      if (e === 'L0.3') throw new SwarmpathError('UNAVAILABLE', 'no answer');
      return s.components.replicas(m, e);
    },
  });
  const input = await v.focused(new AbortController().signal, ['L0.0', 'L0.3']);
  assert.ok(!input.experts.includes('L0.3'));
  assert.equal(moveStillWorthwhile({ ...input, self: { peerId: 'self', experts: ['L0.0'] } }, 'L0.0', 'L0.3'), false);
});
