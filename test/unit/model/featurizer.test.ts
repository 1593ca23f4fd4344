/** featurize (hashed-ngrams/1) against a literal reading of docs/model-format.md, and choosePath. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { HashedNgramFeaturizer, RouterSpec } from '../../../shared/manifest.ts';
import { featurize, fnv1a32 } from '../../../shared/model/featurizer.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { createRng } from '../../../shared/model/rng.ts';

const SPEC: HashedNgramFeaturizer = { type: 'hashed-ngrams/1', prefix_bytes: 64, orders: [1, 2, 3], buckets: 512 };
const bytes = (s: string) => new TextEncoder().encode(s);

/** The document's definition, written with BigInt arithmetic and plain arrays. */
function reference(spec: HashedNgramFeaturizer, x: Uint8Array): Float32Array {
  const n = Math.min(x.length, spec.prefix_bytes);
  const counts = new Array(spec.buckets).fill(0);
  for (const k of spec.orders) {
    for (let i = 0; i + k <= n; i++) {
      let h = 0x811c9dc5n;
      for (const b of [k, ...x.subarray(i, i + k)]) h = ((h ^ BigInt(b)) * 0x01000193n) % 2n ** 32n;
      counts[Number(h % BigInt(spec.buckets))] += 1;
    }
  }
  const f = counts.map((c) => Math.log1p(c));
  const norm = Math.sqrt(f.reduce((a, v) => a + v * v, 0));
  return Float32Array.from(f, (v) => (norm === 0 ? 0 : v / norm));
}

test('FNV-1a 32 known vectors', () => {
  assert.equal(fnv1a32(bytes('')), 0x811c9dc5);
  assert.equal(fnv1a32(bytes('a')), 0xe40c292c);
  assert.equal(fnv1a32(bytes('foobar')), 0xbf9cf968);
});

test('featurize is bit-exact with the definition on random and text inputs', () => {
  const rng = createRng(5);
  const inputs = [bytes(''), bytes('a'), bytes('def f(x):\n    return x * 2\n' + 'z'.repeat(80)), bytes('héllo wörld — ünïcode ✓')];
  for (let i = 0; i < 40; i++) inputs.push(Uint8Array.from({ length: rng.int(100) }, () => rng.int(256)));
  const specs: HashedNgramFeaturizer[] = [SPEC, { type: 'hashed-ngrams/1', prefix_bytes: 16, orders: [2, 5], buckets: 97 }];
  for (const spec of specs) for (const x of inputs) assert.deepEqual(featurize(spec, x), reference(spec, x));
});

test('only the prefix counts; features are unit-norm; empty gives zeros', () => {
  const a = bytes('x'.repeat(64) + 'AAAA'), b = bytes('x'.repeat(64) + 'BBBBBBBB');
  assert.deepEqual(featurize(SPEC, a), featurize(SPEC, b));
  const f = featurize(SPEC, bytes('hello world'));
  assert.ok(Math.abs(f.reduce((s, v) => s + v * v, 0) - 1) < 1e-6);
  assert.ok(featurize(SPEC, new Uint8Array(0)).every((v) => v === 0));
});

test('featurize speed on a 64-byte prefix (reported, not asserted)', () => {
  const x = bytes('import numpy as np\nfrom typing import List\n\ndef main(argv: List[str]) -> int:');
  for (let i = 0; i < 2000; i++) featurize(SPEC, x);
  const n = 20000, t0 = performance.now();
  for (let i = 0; i < n; i++) featurize(SPEC, x);
  process.stderr.write(`featurize 64 bytes: ${(((performance.now() - t0) / n) * 1000).toFixed(2)} µs\n`);
});

function router(centroids: number[][], classifier?: RouterSpec['classifier']): RouterSpec {
  const r: RouterSpec = { featurizer: { type: 'hashed-ngrams/1', prefix_bytes: 8, orders: [1], buckets: 4 }, centroids, paths: centroids.map((_, c) => [`L0.${c}`]) };
  if (classifier) r.classifier = classifier;
  return r;
}

test('choosePath: nearest centroid, first on ties, distances reported', () => {
  const x = bytes('abcabcab');
  const f = featurize(router([[0, 0, 0, 0]]).featurizer, x);
  const near = Array.from(f);
  const far = Array.from(f, (v) => v + 1);
  let r = choosePath(router([far, near, near]), x);
  assert.equal(r.cluster, 1, 'nearest, and the first of two equal ones');
  assert.deepEqual(r.path, ['L0.1']);
  assert.equal(r.distances.length, 3);
  assert.ok(Math.abs(r.distances[0] - 4) < 1e-9 && r.distances[1] === 0);
  r = choosePath(router([near, far]), x);
  assert.equal(r.cluster, 0);
});

test('choosePath: a classifier overrides distances (argmax of W f + b)', () => {
  const x = bytes('abcabcab');
  const near = Array.from(featurize(router([[0, 0, 0, 0]]).featurizer, x));
  const r = choosePath(router([near, near, near], { weights: [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bias: [0.5, 0.2, 0] }), x);
  const sum = near.reduce((a, b) => a + b, 0);
  assert.equal(r.cluster, sum > 0.5 ? 2 : 0);
  const r2 = choosePath(router([near, near], { weights: [[0, 0, 0, 0], [0, 0, 0, 0]], bias: [0, 1] }), x);
  assert.equal(r2.cluster, 1);
});
