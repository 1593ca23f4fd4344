/** `swarmpath eval` on a synth package with a held-out file and a dense baseline. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sequenceBits } from '../../../shared/model/bits.ts';
import { readHeldout } from '../../../shared/model/eval.ts';
import type { EvalReport } from '../../../shared/model/eval.ts';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { encode } from '../../../shared/model/tokenizer.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

const run = promisify(execFile);

test('eval --json reports bpb per path, routed, random, oracle and dense, matching a direct computation', async () => {
  const dir = await synthFixture({ heldout: 12, dense: true, levels: [3, 2], heldoutBytes: 160 });
  const { stdout } = await run(process.execPath, ['bin/swarmpath.js', 'eval', '--model', dir, '--json'], { cwd: new URL('../../..', import.meta.url).pathname });
  const r = JSON.parse(stdout) as EvalReport;
  const pkg = await loadPackage(dir);
  const docs = await readHeldout(pkg);
  assert.equal(r.docs, 12);
  const scored = docs.map((d) => encode(d.text).length - 64);
  assert.equal(r.heldout_bytes, scored.reduce((a, b) => a + b, 0));
  assert.deepEqual(r.paths, pkg.manifest.router.paths);
  assert.deepEqual(Object.keys(r.per_domain), ['code', 'data', 'prose']);
  assert.ok(r.oracle_path_bpb <= r.routed_bpb + 1e-12 && r.oracle_path_bpb <= r.random_path_bpb + 1e-12);
  assert.ok(typeof r.dense_bpb === 'number' && r.dense_bpb > 0);
  const mean = r.path_bpb.reduce((a, b) => a + b, 0) / r.path_bpb.length;
  assert.ok(Math.abs(mean - r.random_path_bpb) < 1e-9, 'random = mean over paths');

  // Recompute routed bpb independently: each doc through a MonolithicRunner on its routed path.
  let bits = 0;
  const runners = new Map<number, Awaited<ReturnType<typeof createMonolithicRunner>>>();
  for (const d of docs) {
    const x = encode(d.text);
    const { cluster, path } = choosePath(pkg.manifest.router, x);
    if (!runners.has(cluster)) runners.set(cluster, await createMonolithicRunner({ pkg, path }));
    const m = runners.get(cluster)!;
    m.reset();
    bits += sequenceBits((await m.forward(x)).data, 256, x, 64);
  }
  for (const m of runners.values()) await m.release();
  assert.ok(Math.abs(bits / r.heldout_bytes - r.routed_bpb) < 1e-4, `${bits / r.heldout_bytes} vs ${r.routed_bpb}`);
  for (const [domain, share] of Object.entries(r.routed_path_share_by_domain)) {
    assert.ok(Math.abs(Object.values(share).reduce((a, b) => a + b, 0) - 1) < 1e-9, domain);
  }

  const table = await run(process.execPath, ['bin/swarmpath.js', 'eval', '--model', dir], { cwd: new URL('../../..', import.meta.url).pathname });
  assert.match(table.stdout, /routed +random +oracle +dense/);
  assert.match(table.stdout, /^all +12 /m);
});

test('sequenceBits: uniform logits give 8 bits per byte', () => {
  const T = 5, V = 256;
  assert.equal(sequenceBits(new Float32Array(T * V), V, [1, 2, 3, 4, 5], 2), 3 * 8);
  const l = new Float32Array(2 * V);
  l[7] = 100;
  assert.ok(sequenceBits(l, V, [0, 7], 1) < 1e-6);
});
