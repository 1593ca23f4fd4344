/**
 * Fair admission: the pure decisions (fair-share.ts), exhaustively on small limits and as properties
 * (global limits always hold; a newcomer always finds a slot while spare slots exist), and the
 * admission queue around them (round-robin between clients, a refused client told to retry, queue
 * timeouts, waiters leaving).
 */
import { describe, it, vi, afterEach } from 'vitest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createAdmission } from '../../../router/admission.ts';
import { decideEntry, fairShare, pickNext, type FairLimits } from '../../../router/http/fair-share.ts';
import { SwarmpathError } from '../../../shared/errors.ts';

const L: FairLimits = { maxConcurrent: 8, maxQueue: 32, maxQueuePerClient: 4, spareSlots: 1 };
const load = (id: string, running: number, waiting = 0) => ({ id, running, waiting });

describe('fair share decisions (pure)', () => {
  it('shares maxConcurrent minus the spare slots between active clients, at least 1 each', () => {
    assert.deepEqual([1, 2, 3, 7, 8, 100].map((n) => fairShare(L, n)), [7, 3, 2, 1, 1, 1]);
    assert.equal(fairShare({ ...L, spareSlots: 0 }, 2), 4);
    assert.equal(fairShare({ ...L, maxConcurrent: 1 }, 1), 1, 'one slot: no spare');
  });

  it('a lone client fills all but the spare slot, then waits, then is refused with its share plus its queue', () => {
    assert.deepEqual(decideEntry(L, { running: 6, waiting: 0 }, load('a', 6), 1), { type: 'run' });
    assert.deepEqual(decideEntry(L, { running: 7, waiting: 0 }, load('a', 7), 1), { type: 'wait' });
    assert.deepEqual(decideEntry(L, { running: 7, waiting: 3 }, load('a', 7, 3), 1), { type: 'wait' });
    assert.deepEqual(decideEntry(L, { running: 7, waiting: 4 }, load('a', 7, 4), 1), { type: 'refuse', reason: 'client', share: 7 });
  });

  it('a newcomer takes the spare slot at once; the flooder may not take it back', () => {
    assert.deepEqual(decideEntry(L, { running: 7, waiting: 4 }, load('b', 0), 2), { type: 'run' });
    // b runs: the flooder (share 3 now) sees one free slot, which is the spare.
    assert.deepEqual(pickNext(L, { running: 7, waiting: 4 }, [load('a', 6, 4), load('b', 1)]), { type: 'hold' });
    assert.deepEqual(decideEntry(L, { running: 6, waiting: 4 }, load('a', 6, 4), 2), { type: 'refuse', reason: 'client', share: 3 });
  });

  it('free slots go to waiting clients under their share first, in the order given', () => {
    const clients = [load('a', 5, 2), load('b', 1, 1), load('c', 0, 1)];
    assert.deepEqual(pickNext(L, { running: 6, waiting: 4 }, clients), { type: 'admit', id: 'b' });
    assert.deepEqual(pickNext(L, { running: 6, waiting: 4 }, [clients[2], clients[0], clients[1]]), { type: 'admit', id: 'c' });
    // Only a client over its share waits: it gets a slot only while more than the spare are free.
    assert.deepEqual(pickNext(L, { running: 6, waiting: 2 }, [load('a', 5, 2), load('b', 1)]), { type: 'admit', id: 'a' });
    assert.deepEqual(pickNext(L, { running: 7, waiting: 2 }, [load('a', 6, 2), load('b', 1)]), { type: 'hold' });
    assert.deepEqual(pickNext(L, { running: 8, waiting: 2 }, [load('a', 0, 2)]), { type: 'hold' });
  });

  it('the global queue limit refuses anyone', () => {
    assert.deepEqual(decideEntry(L, { running: 8, waiting: 32 }, load('z', 0), 9), { type: 'refuse', reason: 'queue', share: 1 });
    assert.deepEqual(decideEntry({ ...L, maxQueue: 0 }, { running: 8, waiting: 0 }, load('z', 0), 2), { type: 'refuse', reason: 'queue', share: 3 });
  });

  it('property: under any arrivals and releases the limits hold, a newcomer runs at once while any slot is free, and nobody holds the spare slots', () => {
    const limits = fc.record({ maxConcurrent: fc.integer({ min: 1, max: 10 }), maxQueue: fc.integer({ min: 0, max: 12 }),
      maxQueuePerClient: fc.integer({ min: 0, max: 4 }), spareSlots: fc.integer({ min: 0, max: 3 }) });
    const ops = fc.array(fc.oneof(fc.record({ arrive: fc.integer({ min: 0, max: 4 }) }), fc.record({ release: fc.integer({ min: 0, max: 4 }) })), { maxLength: 80 });
    fc.assert(fc.property(limits, ops, (l, list) => {
      const running = new Map<string, number>();
      const waiting = new Map<string, number>();
      const order: string[] = [];
      const active = () => order.filter((id) => (running.get(id) ?? 0) + (waiting.get(id) ?? 0) > 0);
      const totals = () => ({ running: sum(running), waiting: sum(waiting) });
      const loads = () => active().map((id) => load(id, running.get(id) ?? 0, waiting.get(id) ?? 0));
      const pump = () => {
        for (;;) {
          const d = pickNext(l, totals(), loads());
          if (d.type === 'hold') return;
          waiting.set(d.id, (waiting.get(d.id) ?? 0) - 1);
          running.set(d.id, (running.get(d.id) ?? 0) + 1);
          order.splice(order.indexOf(d.id), 1);
          order.push(d.id);
        }
      };
      for (const op of list) {
        if ('arrive' in op) {
          const id = `c${op.arrive}`;
          const isNew = !active().includes(id);
          const d = decideEntry(l, totals(), load(id, running.get(id) ?? 0, waiting.get(id) ?? 0), active().length + (isNew ? 1 : 0));
          if (isNew && totals().running < l.maxConcurrent) assert.equal(d.type, 'run', 'a newcomer finds a free slot at once');
          if (!order.includes(id)) order.push(id);
          if (d.type === 'run') running.set(id, (running.get(id) ?? 0) + 1);
          if (d.type === 'wait') waiting.set(id, (waiting.get(id) ?? 0) + 1);
        } else {
          const id = `c${op.release}`;
          if ((running.get(id) ?? 0) === 0) continue;
          running.set(id, (running.get(id) ?? 0) - 1);
          pump();
        }
        const t = totals();
        assert.ok(t.running <= l.maxConcurrent && t.waiting <= l.maxQueue, JSON.stringify(t));
        // Work-conserving: a waiter under its share never sits beside a free slot.
        const share = fairShare(l, active().length);
        if (t.running < l.maxConcurrent) assert.ok(loads().every((c) => c.waiting === 0 || c.running >= share));
        const spare = Math.min(l.spareSlots, l.maxConcurrent - 1);
        assert.ok(loads().every((c) => c.running <= l.maxConcurrent - spare), 'no client holds the spare slots');
      }
    }), { numRuns: 300 });
  });
});

function sum(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

describe('admission queue', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('refuses a client beyond its share plus queue with 429 and Retry-After, while another client still runs', async () => {
    const a = createAdmission({ maxConcurrent: 4, maxQueue: 32, maxQueuePerClient: 1, spareSlots: 1, queueTimeoutMs: 60_000 });
    const flood = Array.from({ length: 6 }, () => a.enter('A').then((release) => release, (e: unknown) => e));
    const settled = await Promise.all(flood.slice(0, 3).concat(flood.slice(4)));
    assert.equal(settled.filter((x) => typeof x === 'function').length, 3, 'A runs 3 (4 minus the spare)');
    const refused = settled.filter((x) => x instanceof SwarmpathError) as SwarmpathError[];
    assert.equal(refused.length, 2);
    assert.ok(refused.every((e) => e.http === 429 && e.retryAfterS === 1));
    assert.deepEqual(a.load('A'), { running: 3, waiting: 1 });
    const releaseB = await a.enter('B');
    assert.deepEqual({ running: a.running, queued: a.queued }, { running: 4, queued: 1 });
    // A's waiter stays behind: A holds 3, its share beside B is 1.
    (settled[0] as () => void)();
    assert.deepEqual(a.load('A'), { running: 2, waiting: 1 });
    releaseB();
    // B gone: A's share is 3 again and its waiter runs.
    await flood[3];
    assert.deepEqual(a.load('A'), { running: 3, waiting: 0 });
  });

  it('serves waiting clients round-robin', async () => {
    const a = createAdmission({ maxConcurrent: 1, maxQueue: 32, maxQueuePerClient: 8, spareSlots: 0, queueTimeoutMs: 60_000 });
    const first = await a.enter('A');
    const order: string[] = [];
    // Each waiter releases its slot as soon as it gets it, so the next pick follows at once.
    const waiters = ['A', 'A', 'A', 'B', 'C'].map((id) => a.enter(id).then((release) => { order.push(id); release(); }));
    first();
    await Promise.all(waiters);
    assert.deepEqual(order, ['A', 'B', 'C', 'A', 'A']);
  });

  it('a waiter times out with 429, and one whose client leaves is dropped', async () => {
    vi.useFakeTimers();
    const a = createAdmission({ maxConcurrent: 1, maxQueue: 4, maxQueuePerClient: 4, spareSlots: 0, queueTimeoutMs: 1000 });
    const release = await a.enter('A');
    const timedOut = a.enter('A').catch((e: unknown) => e);
    const ac = new AbortController();
    const left = a.enter('B', ac.signal).catch((e: unknown) => e);
    assert.equal(a.queued, 2);
    ac.abort();
    assert.equal(((await left) as SwarmpathError).code, 'CANCELLED');
    vi.advanceTimersByTime(1000);
    const e = (await timedOut) as SwarmpathError;
    assert.equal(e.http, 429);
    assert.equal(a.queued, 0);
    release();
    release();
    assert.equal(a.running, 0, 'a release is idempotent');
  });
});
