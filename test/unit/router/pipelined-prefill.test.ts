/**
 * Pipelined prefill (router/path-session.ts) over fake hosts: a long step goes through the stages in
 * chunks, stage s + 1 running chunk j while stage s runs chunk j + 1; the output equals the whole
 * step run at once, each stage gets its chunks in order, a host failing mid-prefill is replayed,
 * and a stage that fails for good fails the step.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'vitest';
import { silentLogger } from '../../../shared/log.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import type { ExpertClient } from '../../../shared/transport-types.ts';
import { PathSession } from '../../../router/path-session.ts';
import { ReplicaBalancer } from '../../../router/replica-balancer.ts';
import { createReplicaPool, type ReplicaPool } from '../../../router/replica-pool.ts';
import { D, FakeDiscovery, FakeHost, toyExpert } from './fakes.ts';

const PATH = ['L0.0', 'L1.0', 'L2.0'];
const opts = () => ({ deadlineMs: Date.now() + 10_000 });
const input = (T: number): F32 => ({ data: new Float32Array(T * D).map((_, i) => Math.sin(i * 0.7)), dims: [1, T, D] });
/** The path in one place, the whole step at once. */
const reference = (x: F32) => PATH.reduce((h, id) => toyExpert(id, [], h), x);

let pools: ReplicaPool[] = [];
afterEach(() => { for (const p of pools) p.close(); pools = []; });

function sessionOver(hosts: FakeHost[], wrap: (h: FakeHost, c: ExpertClient) => ExpertClient = (_h, c) => c) {
  const discovery = new FakeDiscovery(hosts);
  const pool = createReplicaPool({ model: 'toy', noReplicaWaitMs: 100, pollMs: 20 }, {
    discovery, balancer: new ReplicaBalancer(), log: silentLogger,
    connect: (a) => { const h = hosts.find((x) => x.grpc === a)!; return wrap(h, h.client()); },
  });
  pools.push(pool);
  return new PathSession({ path: PATH, maxLength: 64, dModel: D, prefillChunk: 4 }, { pool, log: silentLogger });
}

const close = (a: F32, b: F32) => a.data.every((x, i) => Math.abs(x - b.data[i]) <= 1e-6);

test('a 10-position step goes in chunks of 4, 4 and 2 through every stage and equals the step run at once', async () => {
  const hosts = PATH.map((id, s) => new FakeHost(`h${s}`, [id]));
  const ps = sessionOver(hosts);
  const out = await ps.forward(input(10), 0, opts());
  assert.deepEqual(out.dims, [1, 10, D]);
  assert.ok(close(out, reference(input(10))));
  for (const h of hosts) assert.deepEqual(h.positions, [0, 4, 8], `${h.peerId} got the chunks in order`);
  // Decode steps after it go as one step each.
  await ps.forward(input(1), 10, opts());
  assert.deepEqual(hosts[2].positions, [0, 4, 8, 10]);
  ps.close();
});

test('stages overlap: stage 1 runs chunk 0 while stage 0 still holds chunk 1', async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  const hosts = PATH.map((id, s) => new FakeHost(`h${s}`, [id], s === 0 ? { gate, gateAfterSteps: 1 } : {}));
  let stage1Stepped!: () => void;
  const stepped = new Promise<void>((r) => { stage1Stepped = r; });
  const ps = sessionOver(hosts, (h, c) => (h !== hosts[1] ? c : {
    ...c,
    async openSession(expertId, maxLength, o) {
      const s = await c.openSession(expertId, maxLength, o);
      return { get closed() { return s.closed; }, close: () => s.close(), async step(x, p, so) { const r = await s.step(x, p, so); stage1Stepped(); return r; } };
    },
  }));
  const done = ps.forward(input(8), 0, opts());
  await stepped;
  assert.deepEqual(hosts[1].positions, [0], 'stage 1 ran chunk 0');
  assert.deepEqual(hosts[0].positions, [0], "stage 0's chunk 1 is still held");
  open();
  assert.ok(close(await done, reference(input(8))));
  ps.close();
});

test("a host dying mid-prefill: its stage replays on another replica and the output is unchanged", async () => {
  const hosts = [new FakeHost('h0', ['L0.0']), new FakeHost('h1a', ['L1.0'], { dieAfterSteps: 1 }), new FakeHost('h2', ['L2.0'])];
  const ps = sessionOver(hosts);
  hosts.push(new FakeHost('h1b', ['L1.0']));
  // Only h1a is known at first; h1b joins the discovery's list before the failure.
  const out = await ps.forward(input(12), 0, opts());
  assert.ok(close(out, reference(input(12))));
  assert.equal(ps.replays(), 1);
  assert.deepEqual(hosts[3].positions, [0, 8], 'the replica took chunk 1 with chunk 0 replayed, then chunk 2');
  ps.close();
});

test('a stage that fails for good fails the step, naming it', async () => {
  const hosts = [new FakeHost('h0', ['L0.0']), new FakeHost('h1', ['L1.0'], { failWith: 'INTERNAL' }), new FakeHost('h2', ['L2.0'])];
  const ps = sessionOver(hosts);
  await assert.rejects(ps.forward(input(12), 0, opts()), (e: Error) => /L1\.0/.test(e.message));
  assert.deepEqual(hosts[2].positions, [], 'nothing reached the stage after it');
  ps.close();
});
