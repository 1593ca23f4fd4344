import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { admit, createPeerLedger, type Lease, type LedgerLimits, type LedgerResource } from '../../../expert-host/peer-ledger.ts';

const limits: LedgerLimits = {
  connections: { perPeer: 2, total: 3 },
  streams: { perPeer: 3, total: 5 }, forwards: { perPeer: 1, total: 2 },
  fetches: { perPeer: 1, total: 1 }, inflightBytes: { perPeer: 100, total: 150 },
};
const exhausted = (re: RegExp) => (e: unknown) => e instanceof SwarmpathError && e.code === 'RESOURCE_EXHAUSTED' && e.grpc === 8 && re.test(e.message);

test('admit: the per-peer limit first, then the host-wide one; exact bounds are allowed', () => {
  const l = { perPeer: 3, total: 5 };
  assert.deepEqual(admit(l, 2, 4, 1), { type: 'ok' });
  assert.deepEqual(admit(l, 3, 3, 1), { type: 'refuse', scope: 'peer', used: 3, limit: 3 });
  assert.deepEqual(admit(l, 0, 5, 1), { type: 'refuse', scope: 'host', used: 5, limit: 5 });
  assert.deepEqual(admit(l, 0, 0, 4), { type: 'refuse', scope: 'peer', used: 0, limit: 3 }, 'one request larger than a share');
  assert.deepEqual(admit(l, 3, 5, 0), { type: 'ok' }, 'zero costs nothing');
});

test('one peer at its limit is refused, naming the flag; another peer is not', () => {
  const ledger = createPeerLedger(limits);
  const a = [1, 2, 3].map(() => ledger.acquire('A', 'streams'));
  assert.throws(() => ledger.acquire('A', 'streams'), exhausted(/per-peer limit: A already holds 3 of its 3 Session streams \(--peer-max-sessions\)/));
  const b = [ledger.acquire('B', 'streams'), ledger.acquire('B', 'streams')];
  assert.throws(() => ledger.acquire('C', 'streams'), exhausted(/host limit: 5 of 5 Session streams in use \(--max-sessions\)/));
  assert.equal(ledger.used('streams'), 5);
  assert.equal(ledger.used('streams', 'A'), 3);
  a[0].release();
  a[0].release(); // idempotent
  assert.equal(ledger.used('streams', 'A'), 2);
  assert.ok(ledger.acquire('C', 'streams'));
  assert.throws(() => ledger.acquire('B', 'inflightBytes', 101), exhausted(/100 request bytes in flight \(this one: 101\) \(--peer-inflight-mb\)/));
  for (const l of b) l.release();
});

test('resources are independent, and a peer holding nothing is forgotten', () => {
  const ledger = createPeerLedger(limits);
  const f = ledger.acquire('A', 'forwards');
  assert.throws(() => ledger.acquire('A', 'forwards'), exhausted(/concurrent Forward calls \(--peer-max-forward\)/));
  const s = ledger.acquire('A', 'streams');
  const x = ledger.acquire('B', 'fetches');
  assert.throws(() => ledger.acquire('A', 'fetches'), exhausted(/host limit: 1 of 1 concurrent FetchShard streams in use \(--max-fetch\)/));
  assert.equal(ledger.peers(), 2);
  f.release();
  assert.equal(ledger.peers(), 2, 'A still holds a stream');
  s.release();
  const c = ledger.acquire('B', 'connections');
  const a = [ledger.acquire('A', 'connections'), ledger.acquire('A', 'connections')];
  assert.throws(() => ledger.acquire('A', 'connections'), exhausted(/per-peer limit: A already holds 2 of its 2 connections \(--peer-max-connections\)/));
  assert.throws(() => ledger.acquire('C', 'connections'), exhausted(/host limit: 3 of 3 connections in use \(--max-connections\)/));
  for (const l of a) l.release();
  x.release();
  assert.equal(ledger.peers(), 1, 'B still holds a connection');
  c.release();
  assert.equal(ledger.peers(), 0);
});

const RESOURCES: LedgerResource[] = ['connections', 'streams', 'forwards', 'fetches', 'inflightBytes'];

test('property: under any interleaving no limit is ever exceeded, and releasing everything returns to zero', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('take' as const), peer: fc.constantFrom('A', 'B', 'C', 'D'), r: fc.constantFrom(...RESOURCES), amount: fc.integer({ min: 0, max: 120 }) }),
    fc.record({ kind: fc.constant('give' as const), index: fc.nat() }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
    const ledger = createPeerLedger(limits);
    const held: { lease: Lease; peer: string; r: LedgerResource; amount: number }[] = [];
    for (const o of ops) {
      if (o.kind === 'take') {
        const amount = o.r === 'inflightBytes' ? o.amount : 1;
        const peerUsed = held.filter((h) => h.peer === o.peer && h.r === o.r).reduce((n, h) => n + h.amount, 0);
        const total = held.filter((h) => h.r === o.r).reduce((n, h) => n + h.amount, 0);
        const fits = peerUsed + amount <= limits[o.r].perPeer && total + amount <= limits[o.r].total;
        try {
          held.push({ lease: ledger.acquire(o.peer, o.r, amount), peer: o.peer, r: o.r, amount });
          assert.ok(fits, 'granted only when it fits');
        } catch (e) {
          assert.ok(!fits && e instanceof SwarmpathError && e.code === 'RESOURCE_EXHAUSTED', 'refused only when it does not fit');
        }
      } else if (held.length > 0) {
        held.splice(o.index % held.length, 1)[0].lease.release();
      }
      for (const r of RESOURCES) {
        assert.ok(ledger.used(r) <= limits[r].total);
        for (const p of ['A', 'B', 'C', 'D']) assert.ok(ledger.used(r, p) <= limits[r].perPeer);
      }
    }
    for (const h of held) h.lease.release();
    assert.equal(ledger.peers(), 0);
    for (const r of RESOURCES) assert.equal(ledger.used(r), 0);
  }), { numRuns: 300 });
});
