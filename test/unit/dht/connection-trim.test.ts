import { test } from 'vitest';
import assert from 'node:assert/strict';
import { CONNECTION_LIMITS, REDIALLED_TAG, checkLimits, connectionLimitsFor, connectionsToTrim, worthOfTags, type ConnectionFacts, type PeerWorth } from '../../../shared/dht/connection-trim.ts';

const limits = { low: 3, high: 5, graceMs: 60_000 };
const NOW = 1_000_000;
/** An idle connection to `peer`, opened `ageS` seconds ago. */
const conn = (id: string, peer: string, ageS = 120, streams = 0): ConnectionFacts => ({ id, peer, openedAt: NOW - ageS * 1000, streams });
const plain: PeerWorth = { value: 0, keepAlive: false };
const worthFrom = (m: Record<string, PeerWorth>) => (p: string): PeerWorth => m[p] ?? plain;

test('at or below the high mark, without duplicates, nothing is closed', () => {
  const conns = ['a', 'b', 'c', 'd', 'e'].map((p) => conn(p, p));
  assert.deepEqual(connectionsToTrim(conns, worthFrom({}), NOW, limits), []);
});

test('above the high mark, idle connections close down to the low mark, lowest tag value first, then oldest', () => {
  const conns = [
    conn('a', 'a', 100), conn('b', 'b', 300), conn('c', 'c', 200),
    conn('d', 'd', 400), conn('e', 'e', 500), conn('f', 'f', 90),
  ];
  const worth = worthFrom({ d: { value: 1, keepAlive: false }, e: { value: 1, keepAlive: false } });
  // 6 > 5: close 3 to reach 3; value 0 first (b 300 s, c 200 s, a 100 s, f 90 s: oldest first).
  assert.deepEqual(connectionsToTrim(conns, worth, NOW, limits), ['b', 'c', 'a']);
});

test('keep-alive peers, busy connections and connections within the grace period are never closed for the count', () => {
  const conns = [
    conn('k1', 'k1'), conn('k2', 'k2'), // kad-dht's closest: keep-alive
    conn('busy', 'busy', 500, 2),
    conn('young', 'young', 10),
    conn('x', 'x', 200), conn('y', 'y', 300),
  ];
  const worth = worthFrom({ k1: { value: 51, keepAlive: true }, k2: { value: 0, keepAlive: true } });
  // Only x and y may go; 6 - 2 = 4 stays above the low mark, and that is all the rule may do.
  assert.deepEqual(connectionsToTrim(conns, worth, NOW, limits).sort(), ['x', 'y']);
});

test('a second connection to one peer closes once idle, even below the high mark; the busier or older one stays', () => {
  const conns = [conn('a1', 'a', 100), conn('a2', 'a', 300), conn('b1', 'b', 100, 1), conn('b2', 'b', 300), conn('c', 'c')];
  assert.deepEqual(connectionsToTrim(conns, worthFrom({}), NOW, limits).sort(), ['a1', 'b2']);
  // The duplicate in its grace period stays until it is idle.
  assert.deepEqual(connectionsToTrim([conn('a1', 'a', 5), conn('a2', 'a', 300)], worthFrom({}), NOW, limits), []);
  // A keep-alive peer keeps one connection, not two.
  assert.deepEqual(connectionsToTrim([conn('a1', 'a', 100), conn('a2', 'a', 300)], () => ({ value: 50, keepAlive: true }), NOW, limits), ['a1']);
});

test('duplicates closed count toward the low mark', () => {
  // 7 connections, 2 of them duplicates: closing those leaves 5 (not above high): nothing else goes.
  const conns = [conn('a1', 'a', 100), conn('a2', 'a', 300), conn('b1', 'b', 100), conn('b2', 'b', 300), conn('c', 'c'), conn('d', 'd'), conn('e', 'e')];
  assert.deepEqual(connectionsToTrim(conns, worthFrom({}), NOW, limits).sort(), ['a1', 'b1']);
});

test('a property: what stays is within the high mark, or everything beyond it is protected, busy or young', () => {
  let seed = 7;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (let round = 0; round < 500; round++) {
    const n = Math.floor(rnd() * 30);
    const peers = Array.from({ length: Math.ceil(n * 0.8) + 1 }, (_, i) => `p${i}`);
    const worth = new Map(peers.map((p) => [p, { value: Math.floor(rnd() * 3), keepAlive: rnd() < 0.2 }]));
    const conns = Array.from({ length: n }, (_, i) => conn(`c${i}`, peers[Math.floor(rnd() * peers.length)], rnd() * 200, rnd() < 0.2 ? 1 : 0));
    const l = { low: 1 + Math.floor(rnd() * 8), high: 0, graceMs: 60_000 };
    l.high = l.low + Math.floor(rnd() * 8);
    const closed = new Set(connectionsToTrim(conns, (p) => worth.get(p)!, NOW, l));
    const kept = conns.filter((c) => !closed.has(c.id));
    for (const c of conns.filter((x) => closed.has(x.id))) {
      assert.equal(c.streams, 0, 'a busy connection was closed');
      assert.ok(NOW - c.openedAt >= l.graceMs, 'a young connection was closed');
    }
    // Every peer that had a connection keeps one (only duplicates go when it is protected).
    for (const p of new Set(conns.filter((c) => worth.get(c.peer)!.keepAlive).map((c) => c.peer))) {
      assert.ok(kept.some((c) => c.peer === p), `keep-alive peer ${p} lost its connections`);
    }
    const idle = (c: ConnectionFacts): boolean => c.streams === 0 && NOW - c.openedAt >= l.graceMs;
    // At most one idle connection per peer stays, whatever the count.
    for (const p of peers) assert.ok(kept.filter((c) => c.peer === p && idle(c)).length <= 1, `round ${round}: two idle connections to ${p}`);
    // Above the high mark, every idle connection left is a keep-alive peer's.
    if (kept.length > l.high) {
      for (const c of kept.filter(idle)) assert.ok(worth.get(c.peer)!.keepAlive, `round ${round}: ${kept.length} kept above ${l.high} with ${c.id} idle`);
    }
    // Closing for the count (a peer left without a connection) stops at the low mark.
    if ([...closed].some((id) => !kept.some((k) => k.peer === conns.find((c) => c.id === id)!.peer))) {
      assert.ok(kept.length >= l.low, `round ${round}: trimmed below the low mark (${kept.length} < ${l.low})`);
    }
  }
});

test('a peer\'s worth: the sum of its tag values; protected by any keep-alive tag or the redialled tag', () => {
  assert.deepEqual(worthOfTags(new Map()), { value: 0, keepAlive: false });
  assert.deepEqual(worthOfTags(new Map([['kad-peer', { value: 1 }], ['kad-close', { value: 50 }]])), { value: 51, keepAlive: false });
  assert.deepEqual(worthOfTags(new Map([['kad-peer', { value: 1 }], ['keep-alive-kad-dht', { value: 1 }]])), { value: 2, keepAlive: true });
  assert.deepEqual(worthOfTags(new Map([['keep-alive', { value: 0 }]])), { value: 0, keepAlive: true });
  assert.deepEqual(worthOfTags(new Map([[REDIALLED_TAG, { value: 0 }]])), { value: 0, keepAlive: true });
});

test('marks for a maximum: down to two thirds of it after a minute idle; the default is 192', () => {
  assert.deepEqual(connectionLimitsFor(192), { high: 192, low: 128, graceMs: 60_000 });
  assert.deepEqual(connectionLimitsFor(24), { high: 24, low: 16, graceMs: 60_000 });
  assert.deepEqual({ ...CONNECTION_LIMITS }, connectionLimitsFor(192));
});

test('limits are checked', () => {
  assert.throws(() => checkLimits({ low: 5, high: 4, graceMs: 0 }), /low <= high/);
  assert.throws(() => checkLimits({ low: 0, high: 4, graceMs: 0 }), /1 <= low/);
  assert.throws(() => checkLimits({ low: 1, high: 4, graceMs: -1 }), /graceMs >= 0/);
  assert.deepEqual(checkLimits({ low: 2, high: 2, graceMs: 0 }), { low: 2, high: 2, graceMs: 0 });
});
