import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'vitest';
import { bytesByPeer, kvAvailableTo, planKvReservation, type KvHolding } from '../../../expert-host/kv-share.ts';

let n = 0;
const h = (peer: string, bytes: number, lastUsedMs = 0, busy = false): KvHolding => ({ id: `s${n++}`, peer, bytes, lastUsedMs, busy });

test('room in the budget: ok, whatever the shares', () => {
  assert.deepEqual(planKvReservation({ peer: 'A', need: 10, capacity: 100, shareBytes: 25, holdings: [h('A', 80)] }), { type: 'ok' });
});

test('a full budget: a peer within its share reclaims the least recently used sessions of the borrower', () => {
  const old = h('X', 10, 1);
  const mid = h('X', 10, 5);
  const hot = h('X', 10, 9);
  const holdings = [hot, old, mid, ...Array.from({ length: 7 }, () => h('X', 10, 20))];
  const plan = planKvReservation({ peer: 'B', need: 15, capacity: 100, shareBytes: 25, holdings });
  assert.deepEqual(plan, { type: 'reclaim', victims: [old.id, mid.id] });
});

test('the most borrowed peer gives first; busy sessions and the requester own are never taken', () => {
  const x = [h('X', 30, 1, true), h('X', 30, 2)]; // X: 60, 35 over a share of 25
  const y = [h('Y', 20, 0), h('Y', 10, 0)]; // Y: 30, 5 over
  const me = h('B', 10, 0);
  const plan = planKvReservation({ peer: 'B', need: 15, capacity: 100, shareBytes: 25, holdings: [...x, ...y, me] });
  assert.deepEqual(plan, { type: 'reclaim', victims: [x[1].id] });
});

test('refusals: past its own share, or nothing reclaimable', () => {
  const full = [h('A', 30), h('B', 25), h('C', 25), h('D', 20)];
  assert.deepEqual(planKvReservation({ peer: 'A', need: 1, capacity: 100, shareBytes: 25, holdings: full }),
    { type: 'refuse', reason: 'over-share', free: 0, peerBytes: 30 });
  assert.deepEqual(planKvReservation({ peer: 'D', need: 5, capacity: 100, shareBytes: 25, holdings: full }),
    { type: 'reclaim', victims: [full[0].id] }, 'A is 5 over its share: enough for D');
  assert.deepEqual(planKvReservation({ peer: 'E', need: 10, capacity: 100, shareBytes: 25, holdings: [h('A', 25), h('B', 25), h('C', 25), h('D', 25)] }),
    { type: 'refuse', reason: 'no-reclaimable', free: 0, peerBytes: 0 }, 'a fifth peer when four hold exactly their quarter');
  assert.deepEqual(planKvReservation({ peer: 'B', need: 10, capacity: 100, shareBytes: 25, holdings: [h('X', 100, 0, true)] }),
    { type: 'refuse', reason: 'no-reclaimable', free: 0, peerBytes: 0 }, 'a busy session is not reclaimed');
});

test('what a peer could reserve (Info): free bytes, or the rest of its share out of free plus borrowed', () => {
  const holdings = [h('X', 90), h('B', 5)];
  assert.equal(kvAvailableTo('B', 100, 25, holdings), 20, 'B: 5 free, X borrows 65: the rest of B\'s share');
  assert.equal(kvAvailableTo('X', 100, 25, holdings), 5, 'X is past its share: only the free bytes');
  assert.equal(kvAvailableTo('N', 100, 25, []), 100, 'an empty host: everything');
  assert.equal(kvAvailableTo('N', 100, 25, [h('A', 25), h('B', 25), h('C', 25), h('D', 25)]), 0);
});

const holdingsArb = fc.array(fc.record({
  peer: fc.constantFrom('A', 'B', 'C', 'D', 'E'), bytes: fc.integer({ min: 1, max: 40 }),
  lastUsedMs: fc.nat({ max: 1000 }), busy: fc.boolean(),
}), { maxLength: 30 });

test('property: a plan never over-commits, takes only from borrowers, and refuses only when the borrowed bytes cannot suffice', () => {
  fc.assert(fc.property(holdingsArb, fc.constantFrom('A', 'B', 'F'), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 10, max: 100 }),
    (raw, peer, need, shareBytes) => {
      const holdings = raw.map((r, i) => ({ ...r, id: `h${i}` }));
      const used = [...bytesByPeer(holdings).values()].reduce((a, b) => a + b, 0);
      const capacity = Math.max(used, 200);
      const plan = planKvReservation({ peer, need, capacity, shareBytes, holdings });
      const held = bytesByPeer(holdings);
      const mine = held.get(peer) ?? 0;
      const free = capacity - used;
      if (need <= free) { assert.deepEqual(plan, { type: 'ok' }); return; }
      let borrowedIdle = 0;
      for (const [p, b] of held) {
        if (p === peer) continue;
        const idle = holdings.filter((x) => x.peer === p && !x.busy).reduce((s, x) => s + x.bytes, 0);
        borrowedIdle += Math.min(idle, Math.max(0, b - shareBytes));
      }
      if (plan.type === 'reclaim') {
        assert.ok(mine + need <= shareBytes, 'only a peer within its share reclaims');
        const victims = plan.victims.map((id) => holdings.find((x) => x.id === id)!);
        assert.equal(new Set(plan.victims).size, victims.length);
        const freed = victims.reduce((s, v) => s + v.bytes, 0);
        assert.ok(free + freed >= need, 'enough room afterwards');
        assert.ok(free + freed - victims[victims.length - 1].bytes < need, 'no session more than needed');
        const left = new Map(held);
        for (const v of victims) {
          assert.ok(v.peer !== peer && !v.busy);
          assert.ok(left.get(v.peer)! > shareBytes, 'taken only while its peer is past its share');
          left.set(v.peer, left.get(v.peer)! - v.bytes);
        }
      } else {
        assert.equal(plan.type, 'refuse');
        if (mine + need <= shareBytes) assert.ok(free + borrowedIdle < need, 'refused although borrowed idle bytes sufficed');
      }
    }), { numRuns: 500 });
});
