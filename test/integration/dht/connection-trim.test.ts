/**
 * The connection trimmer on real libp2p nodes (issue 10; shared/dht/connection-trim.ts): 40 nodes on
 * loopback, in this process, each allowed 10 connections (trimmed down to 6 once idle for 1 s).
 * Without trimming a swarm this size ends up nearly all-pairs (~38 connections per node after a
 * minute of lookups, tmp experiment of 2026-12-03), and kad-dht alone keeps 20 of them alive.
 *
 * What must hold: lookups still find every provider from every node while connections are being
 * closed under them; the trimmer closed connections; peers that redialled at once were tagged as
 * such (kad-dht keeps its 20 closest alive); and once the lookups stop, there comes a moment
 * when every node is within its high mark or holds beyond it only connections it may not close:
 * busy ones, ones not yet idle for a whole check period past the grace, and ones to protected peers
 * (a keep-alive tag: kad-dht's closest; or the redialled tag: the other end keeps it alive).
 */
import { test, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import type { SwarmNode } from '../../../shared/dht/node.ts';
import { expertCid } from '../../../shared/dht/keys.ts';
import { REDIALLED_TAG, worthOfTags } from '../../../shared/dht/connection-trim.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { startSwarm, stopAll } from './swarm-helpers.ts';

const N = 40;
const LIMITS = { low: 6, high: 10, graceMs: 1_000, checkMs: 500 };
/** A connection idle for this long has been seen idle by at least one check (plus a close's 1 s bound). */
const SURELY_SEEN_MS = LIMITS.graceMs + LIMITS.checkMs + 1_000;
let nodes: SwarmNode[] = [];
afterAll(async () => { await stopAll(nodes); });

/** The node's connections that a check should have closed: idle past SURELY_SEEN_MS, to an unprotected peer, while above high. */
async function overdue(node: SwarmNode): Promise<string[]> {
  const conns = node.libp2p.getConnections();
  if (conns.length <= LIMITS.high) return [];
  const now = Date.now();
  const out: string[] = [];
  for (const c of conns) {
    if (c.streams.length > 0 || now - c.timeline.open < SURELY_SEEN_MS) continue;
    const tags = await node.libp2p.peerStore.get(c.remotePeer).then((p) => p.tags, () => new Map());
    if (!worthOfTags(tags).keepAlive) out.push(c.remotePeer.toString().slice(-6));
  }
  return out;
}

test(`${N} nodes with at most ${LIMITS.high} connections each: lookups still find every provider, and idle connections go`, async (t) => {
  nodes = await startSwarm(N, { connectionLimits: LIMITS });
  const keys = [0, 1, 2].map((k) => ({ cid: expertCid('trim40', `L0.${k}`), providers: [1, 2, 3, 4].map((j) => nodes[(k * 11 + j * 7) % N]) }));
  for (const k of keys) {
    for (const p of k.providers) {
      // As the announcer does, a provide that reached nobody is retried.
      let stored = 0;
      for (let attempt = 0; attempt < 3 && stored === 0; attempt++) stored = await p.provide(k.cid, { signal: AbortSignal.timeout(20_000) });
      assert.ok(stored > 0, `provider record of ${p.peerId} reached no peer`);
    }
  }

  // Every node searches one key (up to 3 searches, as discovery would search again) and must find all 4.
  const misses: string[] = [];
  for (const [i, node] of nodes.entries()) {
    const k = keys[i % keys.length];
    let left = new Set<string>();
    for (let attempt = 0; attempt < 3 && (attempt === 0 || left.size > 0); attempt++) {
      left = new Set(k.providers.map((p) => p.peerId));
      for await (const id of node.findProviders(k.cid, { signal: AbortSignal.timeout(20_000) })) {
        left.delete(id);
        if (left.size === 0) break;
      }
    }
    if (left.size > 0) misses.push(`node ${i}: ${left.size} of 4 providers not found`);
  }
  assert.deepEqual(misses, []);

  const trimmed = nodes.reduce((a, n) => a + n.connectionsTrimmed(), 0);
  await t.annotate(`${trimmed} connections trimmed during the lookups; connections per node now ${nodes.map((n) => n.libp2p.getConnections().length).join(',')}`);
  assert.ok(trimmed > 0, 'no connection was trimmed');

  const all = await waitFor(() => 'every node within its marks', async () => {
    const over = await Promise.all(nodes.map(overdue));
    return over.every((o) => o.length === 0) ? over : false;
  }, { timeoutMs: 30_000, intervalMs: 250 }).catch(async (err: Error) => {
    const over = await Promise.all(nodes.map(async (n, i) => `node ${i}: ${n.libp2p.getConnections().length} held, overdue ${(await overdue(n)).join(' ')}`));
    throw new Error(`${err.message}\n${over.join('\n')}`);
  });
  assert.equal(all.length, N);
  await t.annotate(`connections per node at that moment: ${nodes.map((n) => n.libp2p.getConnections().length).join(',')}`);
  const redialled = (await Promise.all(nodes.map((n) => n.libp2p.peerStore.all({ filters: [(p) => p.tags.has(REDIALLED_TAG)] })))).reduce((a, l) => a + l.length, 0);
  await t.annotate(`peers tagged as redialling at once after a trim, over all nodes: ${redialled}`);
  // kad-dht redials its closest peers at once when a trim closes them: seen, and tagged, every time.
  assert.ok(redialled > 0, 'no peer was tagged as redialling after a trim');
});
