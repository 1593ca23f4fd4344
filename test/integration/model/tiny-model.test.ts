/**
 * The bundled model models/swarmpath-tiny through the TypeScript runtime: the package verifies, the
 * probes and the Python pipeline's fixtures (featurizer, logits) agree with onnxruntime, routing
 * separates the domains, and greedy generation follows the prompt's domain.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readHeldout } from '../../../shared/model/eval.ts';
import { featurize } from '../../../shared/model/featurizer.ts';
import { emptyPast } from '../../../shared/model/kv-cache.ts';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import { openDenseBlocks, openExpert, openHead, openStem } from '../../../shared/model/ort.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { checkProbe } from '../../../shared/model/probe.ts';
import { encode } from '../../../shared/model/tokenizer.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = `${ROOT}models/swarmpath-tiny`;
const fixture = async (name: string) => JSON.parse(await readFile(`${ROOT}test/fixtures/model/${name}`, 'utf8'));

test('the package verifies and every expert matches its probe', async () => {
  const pkg = await loadPackage(MODEL, { verifyAll: true });
  for (const level of pkg.manifest.levels) {
    for (const entry of level.experts) {
      const e = await openExpert(pkg, entry.id, { skipVerify: true });
      assert.equal(await checkProbe(e, entry.probe, pkg.manifest.dims), true, entry.id);
      await e.release();
    }
  }
});

test('featurizer and path choice agree with the Python fixtures', async () => {
  const pkg = await loadPackage(MODEL);
  const fx = await fixture('featurizer.json');
  assert.deepEqual(fx.featurizer, pkg.manifest.router.featurizer);
  for (const c of fx.cases) {
    const f = featurize(pkg.manifest.router.featurizer, encode(c.text));
    for (let i = 0; i < f.length; i++) assert.ok(Math.abs(f[i] - c.features[i]) < 1e-6, `${JSON.stringify(c.text.slice(0, 20))}[${i}]`);
    assert.equal(choosePath(pkg.manifest.router, encode(c.text)).cluster, c.cluster, JSON.stringify(c.text.slice(0, 40)));
  }
});

test('logits of a path and of the dense model match torch (parity fixture)', async () => {
  const pkg = await loadPackage(MODEL);
  const fx = await fixture('parity.json');
  assert.deepEqual(pkg.manifest.router.paths[fx.path_index], fx.path);
  const check = (got: Float32Array, want: number[][], what: string) => {
    const V = pkg.manifest.dims.vocab_size, T = fx.tokens.length;
    want.forEach((row, k) => {
      const t = T - want.length + k;
      const tol = 1e-4 * Math.max(1, ...row.map(Math.abs));
      for (let i = 0; i < V; i++) assert.ok(Math.abs(got[t * V + i] - row[i]) <= tol, `${what} position ${t} logit ${i}: ${got[t * V + i]} vs ${row[i]}`);
    });
  };
  const runner = await createMonolithicRunner({ pkg, path: fx.path });
  check((await runner.forward(fx.tokens)).data, fx.logits, 'path');
  await runner.release();
  const dense = pkg.manifest.eval!.dense!;
  const stem = await openStem(pkg, {}, dense.stem), blocks = await openDenseBlocks(pkg), head = await openHead(pkg, {}, dense.head);
  const T = fx.tokens.length;
  const h = await stem.run(BigInt64Array.from(fx.tokens, BigInt), BigInt64Array.from({ length: T }, (_, i) => BigInt(i)), 1, T);
  const out = await blocks.run(h, emptyPast(dense.layers, 1), { data: new Float32Array(T).fill(1), dims: [1, T] });
  check((await head.run(out.hiddenOut)).data, fx.dense_logits, 'dense');
  await Promise.all([stem.release(), blocks.release(), head.release()]);
});

test('routing sends most held-out documents of a domain to clusters that domain dominates', async () => {
  const pkg = await loadPackage(MODEL);
  const docs = await readHeldout(pkg);
  const byCluster = new Map<number, Map<string, number>>();
  const routed = docs.map((d) => choosePath(pkg.manifest.router, encode(d.text)).cluster);
  docs.forEach((d, i) => {
    const m = byCluster.get(routed[i]) ?? new Map<string, number>();
    m.set(d.domain, (m.get(d.domain) ?? 0) + 1);
    byCluster.set(routed[i], m);
  });
  // The domain with the most documents in a cluster owns it; a domain's share = its docs in clusters it owns.
  const owner = new Map([...byCluster].map(([c, m]) => [c, [...m].sort((a, b) => b[1] - a[1])[0][0]]));
  const domains = [...new Set(docs.map((d) => d.domain))].sort();
  const shares: Record<string, number> = {};
  for (const dom of domains) {
    const ix = docs.map((d, i) => (d.domain === dom ? i : -1)).filter((i) => i >= 0);
    shares[dom] = ix.filter((i) => owner.get(routed[i]) === dom).length / ix.length;
  }
  process.stderr.write(`routing purity by domain: ${JSON.stringify(shares)}\n`);
  for (const dom of domains) assert.ok(shares[dom] >= 0.7, `${dom}: ${(100 * shares[dom]).toFixed(0)}% of its docs on clusters it dominates`);
});

test('greedy continuations follow the prompt: Python code vs English prose', async () => {
  const pkg = await loadPackage(MODEL);
  const gen = async (prompt: string) => {
    const { path } = choosePath(pkg.manifest.router, encode(prompt));
    const r = await createMonolithicRunner({ pkg, path });
    const out = await r.generate(prompt, { maxTokens: 120, temperature: 0 });
    await r.release();
    return { path, text: out.text };
  };
  const py = await gen('import os\nimport sys\n\n\ndef read_config(path):\n    """Read the configuration file."""\n    with open(path) as f:\n');
  const prose = await gen('It was a cold morning in the village, and the old man walked slowly down to the river. He');
  process.stderr.write(`python → ${JSON.stringify(py.text)}\nprose → ${JSON.stringify(prose.text)}\n`);
  const codeChars = (s: string) => (s.match(/[()[\]{}=:_.'"#]|\n {4}/g) ?? []).length / Math.max(1, s.length);
  const words = (s: string) => (s.match(/\b[a-z]{2,}\b/g) ?? []).length;
  assert.ok(codeChars(py.text) > 2 * codeChars(prose.text), `code punctuation: python ${codeChars(py.text).toFixed(3)} vs prose ${codeChars(prose.text).toFixed(3)}`);
  assert.match(py.text, /\n\s{4,}\S|[a-z_]+\(|\bself\b|\breturn\b|=/, 'the Python continuation looks like Python');
  assert.ok(words(prose.text) >= 8, 'the prose continuation has words');
});
