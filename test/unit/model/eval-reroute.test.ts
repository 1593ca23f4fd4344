/**
 * `reroute_bpb` of `swarmpath eval` (shared/model/eval.ts) on a tiny synth package: a finite number,
 * equal to `routed_bpb` when N reaches past every document, and equal to a direct computation (each
 * stretch of N tokens on the path chosen from the window before it, run over the whole prefix by a
 * MonolithicRunner) when paths do change. Runs onnxruntime in this process; no sockets, no processes.
 */
import { describe, it, beforeAll } from 'vitest';
import assert from 'node:assert/strict';
import { formatReport } from '../../../cli/commands/eval.ts';
import { sequenceBits } from '../../../shared/model/bits.ts';
import { evaluatePackage, readHeldout } from '../../../shared/model/eval.ts';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import type { MonolithicRunner } from '../../../shared/model/monolithic.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { encode } from '../../../shared/model/tokenizer.ts';
import type { ModelPackage } from '../../../shared/runtime-types.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

const PREFIX = 32;
let pkg: ModelPackage;

beforeAll(async () => {
  const dir = await synthFixture({ dModel: 32, heads: 2, levels: [2, 2], clusters: 4, heldout: 6, heldoutBytes: 120, prefixBytes: PREFIX });
  pkg = await loadPackage(dir);
}, 60_000);

/** Bits of every document with re-routing every `every` tokens, computed directly; and the path changes. */
async function directRerouteBits(every: number): Promise<{ bits: number; changes: number }> {
  const { router } = pkg.manifest;
  const runners = new Map<string, MonolithicRunner>();
  const logitsOn = async (path: readonly string[], x: Uint8Array) => {
    const key = path.join('>');
    if (!runners.has(key)) runners.set(key, await createMonolithicRunner({ pkg, path }));
    const m = runners.get(key)!;
    m.reset();
    return (await m.forward(x)).data;
  };
  let bits = 0;
  let changes = 0;
  try {
    for (const d of await readHeldout(pkg)) {
      const x = encode(d.text);
      let path = choosePath(router, x).path;
      for (let start = PREFIX; start < x.length; start += every) {
        const next = start === PREFIX ? path : choosePath(router, x.slice(start - PREFIX, start)).path;
        if (next.join() !== path.join()) changes++;
        path = next;
        const end = Math.min(x.length, start + every);
        bits += sequenceBits(await logitsOn(path, x), 256, x.slice(0, end), start);
      }
    }
  } finally {
    for (const m of runners.values()) await m.release();
  }
  return { bits, changes };
}

describe('eval reroute_bpb', () => {
  it('equals routed_bpb when N reaches past every document', async () => {
    const r = await evaluatePackage(pkg, { workers: 1, rerouteEvery: 120 });
    assert.ok(Number.isFinite(r.reroute_bpb) && r.reroute_bpb > 0, String(r.reroute_bpb));
    assert.equal(r.reroute_bpb, r.routed_bpb);
    assert.equal(r.reroute_every, 120);
    assert.equal(r.rerouted_docs, 0);
    assert.equal(r.path_changes, 0);
    for (const t of Object.values(r.per_domain)) assert.equal(t.reroute_bpb, t.routed_bpb);
  });

  it('scores each stretch of N tokens on its own path, as a direct computation does', async () => {
    const r = await evaluatePackage(pkg, { workers: 1, rerouteEvery: 8 });
    const want = await directRerouteBits(8);
    assert.ok(want.changes > 0, 'paths change on these documents (else this test could not tell)');
    assert.equal(r.path_changes, want.changes);
    assert.ok(r.rerouted_docs > 0 && r.rerouted_docs <= r.docs);
    assert.ok(Number.isFinite(r.reroute_bpb));
    assert.notEqual(r.reroute_bpb, r.routed_bpb);
    assert.ok(Math.abs(want.bits / r.heldout_bytes - r.reroute_bpb) < 1e-4, `${want.bits / r.heldout_bytes} vs ${r.reroute_bpb}`);
    // Worker threads get N too: the same numbers.
    const w = await evaluatePackage(pkg, { workers: 2, rerouteEvery: 8 });
    assert.equal(w.reroute_bpb, r.reroute_bpb);
    assert.equal(w.path_changes, r.path_changes);
    const table = formatReport(r);
    assert.match(table, /routed +random +oracle +dense +reroute/);
    assert.match(table, new RegExp(`every 8 tokens; it changed in ${r.rerouted_docs} of 6 documents \\(${r.path_changes} changes\\)`));
    assert.ok(table.includes(r.reroute_bpb.toFixed(4)));
  }, 60_000);
});
