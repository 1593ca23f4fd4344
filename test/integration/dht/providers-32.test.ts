/**
 * A DHT of 32 real libp2p nodes on loopback, in one process: three keys, each provided by four
 * nodes; every node searches one key and must find all four of its providers.
 *
 * Every search must find all four providers. How fast is a figure, not a pass/fail (timing claims
 * belong to benchmarks): the latencies are reported as annotations (median, p90, max, and how many
 * were within issue 3's 2 s target), and a search only has a generous deadline so that nothing
 * hangs. On a quiet 2-core machine the maximum is ~0.3 s; on one overloaded by other work (run
 * queues of 20-40) single lookups took 2-2.3 s, which made a 2 s assertion fail on busy machines.
 * Searches run one at a time: the latency of a lookup, not of 32 lookups fighting for 2 cores.
 */
import { test, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import type { SwarmNode } from '../../../shared/dht/node.ts';
import { expertCid } from '../../../shared/dht/keys.ts';
import { startSwarm, stopAll, stats, waitForQuiet } from './swarm-helpers.ts';

const N = 32;
/** Issue 3's target for one search, ms: reported, not asserted. */
const TARGET_MS = 2_000;
/** Deadline of one search, ms: only so that a broken DHT fails the test instead of hanging it. */
const SEARCH_BOUND_MS = 20_000;
/** Searches a node may make for a key (each must find every provider by itself). */
const SEARCHES = 3;
let nodes: SwarmNode[] = [];
afterAll(async () => { await stopAll(nodes); });

/**
 * Time until every id in `want` was yielded by a provider search from `node`; after the bound,
 * the ids still missing (`left` is emptied as they come).
 */
async function timeToAll(node: SwarmNode, key: ReturnType<typeof expertCid>, left: Set<string>): Promise<number | undefined> {
  const start = performance.now();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), SEARCH_BOUND_MS);
  try {
    for await (const id of node.findProviders(key, { signal: ac.signal })) {
      left.delete(id);
      if (left.size === 0) return performance.now() - start;
    }
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

test(`${N} nodes: every provider of a key is found from every node`, async (t) => {
  let t0 = performance.now();
  nodes = await startSwarm(N);
  assert.equal(nodes.length, N);
  // Joining (each node's first self-query dials ~20 peers) is not what is measured: let it settle,
  // that is, wait until no connection has opened or closed for 2 s (bounded).
  await waitForQuiet(nodes, 2_000, 60_000);
  await t.annotate(`${N} nodes started and settled in ${Math.round(performance.now() - t0)} ms`);

  t0 = performance.now();
  const keys = [0, 1, 2].map((k) => ({
    cid: expertCid('swarm32', `L0.${k}`),
    providers: [1, 2, 3, 4].map((j) => nodes[(k * 9 + j * 7) % N]),
  }));
  const reach: number[] = [];
  for (const k of keys) {
    assert.equal(new Set(k.providers.map((p) => p.peerId)).size, 4);
    for (const p of k.providers) {
      // As the announcer does, a provide that reached nobody (a starved event loop) is retried.
      let stored = 0;
      for (let attempt = 0; attempt < 3 && stored === 0; attempt++) {
        const t1 = performance.now();
        stored = await p.provide(k.cid, { signal: AbortSignal.timeout(20_000) });
        if (stored === 0) await t.annotate(`provide by node ${nodes.indexOf(p)} reached no peer in ${Math.round(performance.now() - t1)} ms`);
      }
      assert.ok(stored > 0, `provider record of ${p.peerId} reached no peer`);
      reach.push(stored);
    }
  }
  await t.annotate(`12 provides done in ${Math.round(performance.now() - t0)} ms; peers reached by each: ${reach.join(',')}`);

  await waitForQuiet(nodes, 1_000, 20_000);
  const latencies: number[] = [];
  const misses: string[] = [];
  const searches = nodes.map((node, i) => ({ node, i, k: keys[i % keys.length] }));
  // One search at a time: the latency of a lookup, not of 32 lookups fighting for 2 cores.
  // On a starved machine a query can end with a peer's answer lost to a timeout; a caller (discovery)
  // simply searches again, so a node gets SEARCHES tries, each of which must find all four on its own.
  let retried = 0;
  for (const s of searches) {
    let left = new Set<string>();
    let ms: number | undefined;
    for (let attempt = 0; attempt < SEARCHES && ms === undefined; attempt++) {
      if (attempt > 0) retried++;
      left = new Set(s.k.providers.map((p) => p.peerId));
      ms = await timeToAll(s.node, s.k.cid, left);
    }
    if (ms === undefined) {
      misses.push(`node ${s.i} did not find providers ${[...left].map((id) => nodes.findIndex((n) => n.peerId === id)).join(',')} of key ${keys.indexOf(s.k)} in ${SEARCHES} searches`);
    }
    else latencies.push(ms);
  }
  await t.annotate(`${retried} of ${N} nodes needed a second search`);
  if (latencies.length > 0) {
    const st = stats(latencies);
    const onTarget = latencies.filter((ms) => ms <= TARGET_MS).length;
    await t.annotate(`time to find all 4 providers, ${latencies.length} searches: median ${st.median.toFixed(1)} ms, p90 ${st.p90.toFixed(1)} ms, max ${st.max.toFixed(1)} ms; ${onTarget}/${latencies.length} within ${TARGET_MS} ms`);
  }
  assert.deepEqual(misses, []);
  assert.equal(latencies.length, N);
});
