/**
 * The re-routing rule shared by the router and `swarmpath eval` (shared/model/path-choice.ts):
 * when it is due, which bytes it reads, and the scored segments of a document.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import type { RouterSpec } from '../../../shared/manifest.ts';
import { featurize } from '../../../shared/model/featurizer.ts';
import { choosePath, rerouteDue, rerouteSegments, routingWindow } from '../../../shared/model/path-choice.ts';

const featurizer = { type: 'hashed-ngrams/1' as const, prefix_bytes: 8, orders: [1, 2], buckets: 64 };
const bytes = (s: string) => new TextEncoder().encode(s);
/** Two clusters: text of 'a's goes to 0, text of 'b's to 1. */
const router: RouterSpec = {
  featurizer,
  centroids: [Array.from(featurize(featurizer, bytes('aaaaaaaa'))), Array.from(featurize(featurizer, bytes('bbbbbbbb')))],
  paths: [['L0.0', 'L1.0'], ['L0.1', 'L1.1']],
};

describe('rerouteDue', () => {
  it('is due after each positive multiple of N, never with N = 0', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((g) => rerouteDue(3, g)), [3, 6, 9]);
    assert.deepEqual([0, 1, 64, 128].filter((g) => rerouteDue(0, g)), []);
  });
});

describe('routingWindow', () => {
  it('is the last prefix_bytes bytes before the end, or the whole context when shorter', () => {
    const ctx = bytes('0123456789abcdef');
    assert.equal(new TextDecoder().decode(routingWindow(router, ctx, 12)), '456789ab');
    assert.equal(new TextDecoder().decode(routingWindow(router, ctx, 5)), '01234');
  });
});

describe('rerouteSegments', () => {
  // 8 bytes of prefix, 'a' up to position 14, then 'b': windows ending at 8, 12 and 16 read 'a's mostly, later ones 'b's.
  const doc = bytes('a'.repeat(14) + 'b'.repeat(26));

  it('scores stretches of N from the prefix, each on the path chosen from the window ending where it starts', () => {
    const segs = rerouteSegments(router, doc, 8, 4);
    assert.deepEqual(segs.map((s) => [s.start, s.end]), [[8, 12], [12, 16], [16, 20], [20, 24], [24, 28], [28, 32], [32, 36], [36, 40]]);
    assert.equal(segs[0].cluster, choosePath(router, doc).cluster, 'the first stretch is on the routed path');
    for (const s of segs.slice(1)) assert.equal(s.cluster, choosePath(router, doc.subarray(s.start - 8, s.start)).cluster);
    assert.deepEqual(segs.map((s) => s.cluster), [0, 0, 0, 1, 1, 1, 1, 1], 'the path changes once the window reads mostly b');
  });

  it('is one stretch on the routed path when N reaches past the document or is 0, and nothing when nothing is scored', () => {
    for (const every of [32, 40, 1000, 0]) {
      assert.deepEqual(rerouteSegments(router, doc, 8, every), [{ start: 8, end: 40, cluster: 0 }], `N ${every}`);
    }
    assert.deepEqual(rerouteSegments(router, doc.subarray(0, 8), 8, 4), []);
    assert.deepEqual(rerouteSegments(router, doc, 8, 30).map((s) => [s.start, s.end, s.cluster]), [[8, 38, 0], [38, 40, 1]]);
  });
});
