import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createRebalancer } from '../../../expert-host/rebalancing/rebalancer.ts';
import type { Migrator, ViewInput } from '../../../expert-host/rebalancing/migrator.ts';
import { silentLogger } from '../../../shared/log.ts';
import { manualTimers } from '../../helpers/manual-timers.ts';
import { EXPERTS4, hostsWith, noDemand } from './fixtures.ts';

/** A migrator that records what it is asked to do (pure bookkeeping, no hosts). */
function recordingMigrator(served: string[]) {
  const moves: string[] = [];
  const migrator: Migrator = {
    experts: () => served,
    async join(e) { moves.push(`join ${e}`); return { type: 'joined', expertId: e, source: 'test' }; },
    async move(from, to) { moves.push(`${from}>${to}`); return { type: 'moved', from, to, source: 'test' }; },
    pending: () => undefined,
    finishPending: async () => undefined,
    stop: async () => {},
  };
  return { migrator, moves };
}

// L0.0 has 4 holders (this host one of them), L1.1 none: a move is worth making.
const view: ViewInput = { experts: EXPERTS4, hosts: hostsWith(EXPERTS4, [3, 2, 2, 0]), targetReplicas: 2, demand: noDemand };

test('while the host\'s own DHT publications fail, checks are skipped: no view is read, no move is made', async () => {
  const t = manualTimers();
  const { migrator, moves } = recordingMigrator(['L0.0']);
  let failing = true;
  let views = 0;
  const r = createRebalancer({ model: 'm', experts: EXPERTS4, peerId: 'self', targetReplicas: 2, intervalMs: 60_000, firstDelayMs: 1000 },
    { migrator, view: async () => { views++; return view; }, log: silentLogger, timers: t.timers, random: () => 0, paused: () => failing });
  r.start();
  await t.advance(10 * 60_000);
  assert.equal(views, 0);
  assert.deepEqual(moves, []);
  failing = false;
  await t.advance(2 * 60_000);
  assert.ok(views >= 1, 'checks resume once publications succeed');
  assert.deepEqual(moves.slice(0, 1), ['L0.0>L1.1']);
  await r.stop();
});

test('checks are rare: one per interval, ten minutes make ten', async () => {
  const t = manualTimers();
  const { migrator } = recordingMigrator(['L0.0']);
  let views = 0;
  const balanced: ViewInput = { ...view, hosts: hostsWith(EXPERTS4, [2, 2, 2, 2]) };
  const r = createRebalancer({ model: 'm', experts: EXPERTS4, peerId: 'self', targetReplicas: 2, intervalMs: 60_000, firstDelayMs: 60_000 },
    { migrator, view: async () => { views++; return balanced; }, log: silentLogger, timers: t.timers, random: () => 0.5 });
  r.start();
  await t.advance(10 * 60_000);
  assert.equal(views, 10);
  await r.stop();
});
