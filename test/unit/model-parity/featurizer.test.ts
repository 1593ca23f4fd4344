/**
 * The TypeScript featurizer (shared/model/featurizer.ts) and path choice against the Python pipeline's
 * fixture test/fixtures/model/featurizer.json: every feature within 1e-6, and the same cluster under
 * the package's router (nearest centroid, and the full router with its classifier when it has one).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HashedNgramFeaturizer, Manifest } from '../../../shared/manifest.ts';
import { featurize } from '../../../shared/model/featurizer.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'model', 'featurizer.json'), 'utf8')) as {
  featurizer: HashedNgramFeaturizer;
  cases: { text: string; features: number[]; cluster: number; routed_cluster: number }[];
};
const manifest = JSON.parse(readFileSync(join(ROOT, 'models', 'swarmpath-tiny', 'manifest.json'), 'utf8')) as Manifest;

test('the fixture uses the package featurizer and has 10+ cases, some non-ASCII', () => {
  assert.deepEqual(fixture.featurizer, manifest.router.featurizer);
  assert.ok(fixture.cases.length >= 10);
  // eslint-disable-next-line no-control-regex -- the range starts at \x00 on purpose: 'not ASCII'.
  assert.ok(fixture.cases.some((c) => /[^\x00-\x7f]/.test(c.text)));
});

test('features match the Python featurizer within 1e-6', () => {
  for (const c of fixture.cases) {
    const f = featurize(fixture.featurizer, new TextEncoder().encode(c.text));
    assert.equal(f.length, c.features.length);
    for (let i = 0; i < f.length; i++) {
      assert.ok(Math.abs(f[i] - c.features[i]) <= 1e-6, `${JSON.stringify(c.text.slice(0, 20))} feature ${i}: ${f[i]} vs ${c.features[i]}`);
    }
  }
});

test('nearest-centroid clusters match the Python pipeline', () => {
  const router = { ...manifest.router, classifier: undefined };
  for (const c of fixture.cases) {
    assert.equal(choosePath(router, new TextEncoder().encode(c.text)).cluster, c.cluster, JSON.stringify(c.text.slice(0, 30)));
  }
});

test('the package router (classifier when present) picks the same cluster as the Python pipeline', () => {
  for (const c of fixture.cases) {
    assert.equal(choosePath(manifest.router, new TextEncoder().encode(c.text)).cluster, c.routed_cluster,
      JSON.stringify(c.text.slice(0, 30)));
  }
});
