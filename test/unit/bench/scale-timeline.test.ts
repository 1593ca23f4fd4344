import assert from 'node:assert/strict';
import { test } from 'vitest';
import { HolderTimeline } from '../../../bench/scale-timeline.ts';

const EXPERTS = ['A', 'B', 'C'];

test('moves change two pairs once each: no flap; the last change is when the last move was seen', () => {
  const t = new HolderTimeline(EXPERTS);
  t.observe(0, [{ index: 1, served: ['A'] }, { index: 2, served: ['A'] }]);
  t.observe(1, [{ index: 1, served: ['A', 'B'] }, { index: 2, served: ['A'] }]); // migrating: both for a moment
  t.observe(2, [{ index: 1, served: ['B'] }, { index: 2, served: ['A'] }]);
  t.observe(3, [{ index: 1, served: ['B'] }, { index: 2, served: ['C'] }]);
  t.observe(4, [{ index: 1, served: ['B'] }, { index: 2, served: ['C'] }]);
  assert.deepEqual(t.summary(), { changes: 4, flaps: 0, lastChangeAt: 3 });
});

test('a host joining an expert and leaving it again is a flap, and so is leaving and coming back', () => {
  const t = new HolderTimeline(EXPERTS);
  t.observe(0, [{ index: 1, served: ['A'] }, { index: 2, served: ['B'] }]);
  t.observe(1, [{ index: 1, served: ['C'] }, { index: 2, served: ['A'] }]);
  t.observe(2, [{ index: 1, served: ['A'] }, { index: 2, served: ['A'] }]);
  // host 1: A left then rejoined (flap), C joined then left (flap); host 2: B left, A joined (once each).
  assert.deepEqual(t.summary(), { changes: 6, flaps: 2, lastChangeAt: 2 });
});

test('hosts missing from a snapshot (crashed) are not judged, and nothing seen means no change', () => {
  const t = new HolderTimeline(EXPERTS);
  t.observe(0, [{ index: 1, served: ['A'] }, { index: 2, served: ['B'] }]);
  t.observe(1, [{ index: 1, served: ['A'] }]);
  assert.deepEqual(t.summary(), { changes: 0, flaps: 0, lastChangeAt: undefined });
});
