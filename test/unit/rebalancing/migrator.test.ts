import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createMigrator, type MigrationHost, type PreparedExpert, type ViewInput } from '../../../expert-host/rebalancing/migrator.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { EXPERTS4, hostsWith, noDemand, rec } from './fixtures.ts';

/** A host that records every operation in order. */
function fakeHost(opts: { failPrepare?: boolean; sessions?: Map<string, number> } = {}) {
  const calls: string[] = [];
  const sessions = opts.sessions ?? new Map<string, number>();
  const host: MigrationHost = {
    async prepare(id) {
      calls.push(`prepare ${id}`);
      if (opts.failPrepare) throw new Error('no copy anywhere');
      return { expertId: id, source: 'package' } satisfies PreparedExpert;
    },
    async discard(p) { calls.push(`discard ${p.expertId}`); },
    serve(p) { calls.push(`serve ${p.expertId}`); },
    activeSessions: (id) => sessions.get(id) ?? 0,
    async retire(id) { calls.push(`retire ${id}`); },
    async announce(experts) { calls.push(`announce ${experts.join(',')}`); },
  };
  return { host, calls, sessions };
}

function viewOf(hosts: () => HostRecord[]): (signal: AbortSignal) => Promise<ViewInput> {
  return async () => ({ experts: EXPERTS4, hosts: hosts(), targetReplicas: 2, demand: noDemand });
}

const noSleep = async () => {};
const init = (experts: string[]) => ({ peerId: 'me', experts, settleMs: 0, drainGraceMs: 1000 });

test('a move serves and announces the new expert before it stops announcing the old one, then retires it', async () => {
  const { host, calls } = fakeHost();
  const others = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  const m = createMigrator(init(['L0.0']), { host, view: viewOf(() => others), log: silentLogger, sleep: noSleep });
  const out = await m.move('L0.0', 'L1.0');
  await m.stop();
  assert.equal(out.type, 'moved');
  assert.deepEqual(calls, ['prepare L1.0', 'serve L1.0', 'announce L0.0,L1.0', 'announce L1.0', 'retire L0.0']);
  assert.deepEqual(m.experts(), ['L1.0']);
});

test('a move that others made unnecessary while the shard loaded is abandoned before anything is announced', async () => {
  const { host, calls } = fakeHost();
  let others = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  const prepare = host.prepare.bind(host);
  host.prepare = async (id, signal) => {
    const p = await prepare(id, signal);
    others = [...hostsWith(EXPERTS4, [2, 2, 0, 2]), ...hostsWith(['L1.0'], [2], {}, 'fast')]; // filled while it loaded
    return p;
  };
  const m = createMigrator(init(['L0.0']), { host, view: viewOf(() => others), log: silentLogger, sleep: noSleep });
  const out = await m.move('L0.0', 'L1.0');
  assert.deepEqual(out, { type: 'aborted', from: 'L0.0', to: 'L1.0', reason: 'filled-meanwhile' });
  assert.deepEqual(calls, ['prepare L1.0', 'discard L1.0']);
  assert.deepEqual(m.experts(), ['L0.0']);
});

test('a move whose target a second look finds filled is abandoned before loading anything (a view can miss hosts)', async () => {
  const { host, calls } = fakeHost();
  const others = [...hostsWith(EXPERTS4, [2, 2, 0, 2]), ...hostsWith(['L1.0'], [2], {}, 'fast')];
  const m = createMigrator(init(['L0.0']), { host, view: viewOf(() => others), log: silentLogger, sleep: noSleep });
  const out = await m.move('L0.0', 'L1.0');
  assert.deepEqual(out, { type: 'aborted', from: 'L0.0', to: 'L1.0', reason: 'filled-meanwhile' });
  assert.deepEqual(calls, [], 'nothing prepared, nothing announced');
});

test('holding: finishPending releases once another host keeps the old expert', async () => {
  const { host, calls } = fakeHost();
  // The swarm as this host sees it once it serves L0.0 and L1.0: L1.0 empty otherwise, L0.0 alone.
  let others: HostRecord[] = hostsWith(EXPERTS4, [1, 2, 0, 2]);
  // Before the release is decided, the other L0.0 host leaves (killed).
  const sleep = async () => { others = hostsWith(EXPERTS4, [0, 2, 0, 2]); };
  const m2 = createMigrator(init(['L0.0']), { host, view: viewOf(() => [...others, rec('me', m2.experts())]), log: silentLogger, sleep });
  const out = await m2.move('L0.0', 'L1.0');
  assert.deepEqual(out, { type: 'holding', from: 'L0.0', to: 'L1.0' });
  assert.deepEqual(m2.pending(), { from: 'L0.0', to: 'L1.0' });
  assert.deepEqual(m2.experts(), ['L0.0', 'L1.0'], 'serves both while holding');
  assert.ok(!calls.includes('retire L0.0'));
  others = hostsWith(EXPERTS4, [1, 2, 0, 2]);
  const later = await m2.finishPending();
  assert.equal(later?.type, 'moved');
  assert.deepEqual(m2.experts(), ['L1.0']);
  await m2.stop();
  assert.ok(calls.includes('retire L0.0'));
  assert.equal(m2.pending(), undefined);
});

test('a failed fetch leaves everything as it was', async () => {
  const { host, calls } = fakeHost({ failPrepare: true });
  const m = createMigrator(init(['L0.0']), { host, view: viewOf(() => hostsWith(EXPERTS4, [2, 2, 0, 2])), log: silentLogger, sleep: noSleep });
  const out = await m.move('L0.0', 'L1.0');
  assert.equal(out.type, 'failed');
  assert.deepEqual(calls, ['prepare L1.0']);
  assert.deepEqual(m.experts(), ['L0.0']);
  const j = await m.join('L1.0');
  assert.equal(j.type, 'failed');
});

test('a join serves, then announces', async () => {
  const { host, calls } = fakeHost();
  const m = createMigrator(init([]), { host, view: viewOf(() => []), log: silentLogger, sleep: noSleep });
  const out = await m.join('L1.1');
  assert.deepEqual(out, { type: 'joined', expertId: 'L1.1', source: 'package' });
  assert.deepEqual(calls, ['prepare L1.1', 'serve L1.1', 'announce L1.1']);
});

test('draining waits for the old expert\'s sessions (up to the grace) before retiring it', async () => {
  const sessions = new Map([['L0.0', 2]]);
  const { host, calls } = fakeHost({ sessions });
  let slept = 0;
  let sleptAtRetire = -1;
  const sleep = async () => { slept++; if (slept === 3) sessions.set('L0.0', 0); };
  const retire = host.retire;
  host.retire = async (id) => { sleptAtRetire = slept; await retire(id); };
  const m = createMigrator(init(['L0.0']), { host, view: viewOf(() => hostsWith(EXPERTS4, [2, 2, 0, 2])), log: silentLogger, sleep });
  const out = await m.move('L0.0', 'L1.0');
  assert.equal(out.type, 'moved');
  await m.stop();
  assert.deepEqual(calls.slice(-2), ['announce L1.0', 'retire L0.0']);
  assert.equal(sleptAtRetire, 3, 'retired only once its sessions ended (1 settle + 2 drain waits)');
});

test('a move\'s three confirmations read focused views of its two experts, never a whole check\'s view', async () => {
  const { host, calls } = fakeHost();
  const others = hostsWith(EXPERTS4, [2, 2, 0, 2]);
  const reads: string[] = [];
  const m = createMigrator(init(['L0.0']), {
    host, log: silentLogger, sleep: noSleep,
    view: async (signal) => { reads.push('full'); return viewOf(() => others)(signal); },
    focusedView: async (signal, experts) => { reads.push(`focused ${experts.join(',')}`); return viewOf(() => others)(signal); },
  });
  const out = await m.move('L0.0', 'L1.0');
  await m.stop();
  assert.equal(out.type, 'moved');
  assert.deepEqual(reads, ['focused L0.0,L1.0', 'focused L0.0,L1.0', 'focused L0.0,L1.0'], 'worth it? still worth it? may L0.0 go?');
  assert.deepEqual(calls, ['prepare L1.0', 'serve L1.0', 'announce L0.0,L1.0', 'announce L1.0', 'retire L0.0']);
});
