import assert from 'node:assert/strict';
import { test } from 'vitest';
import { createRowBatcher } from '../../../router/row-batcher.ts';

/** A batcher whose calls double their inputs, recording each call's rows. */
function doubling(maxRows: number) {
  const calls: number[][] = [];
  const b = createRowBatcher<number, number>({
    maxRows,
    async runBatch(rows) { calls.push([...rows]); return rows.map((x) => 2 * x); },
  });
  return { b, calls };
}

test('calls made in the same event-loop turn run as one call, each getting its own row', async () => {
  const { b, calls } = doubling(64);
  const out = await Promise.all([1, 2, 3, 4, 5].map((x) => b.run(x)));
  assert.deepEqual(out, [2, 4, 6, 8, 10]);
  assert.deepEqual(calls, [[1, 2, 3, 4, 5]]);
  assert.deepEqual([...b.batchSizes()], [[5, 1]]);
});

test('a lone call runs alone, and calls of later turns make later batches', async () => {
  const { b, calls } = doubling(64);
  assert.equal(await b.run(7), 14);
  assert.equal(await b.run(8), 16);
  assert.deepEqual(calls, [[7], [8]]);
});

test('more calls than maxRows split into batches of at most maxRows, in order', async () => {
  const { b, calls } = doubling(2);
  const out = await Promise.all([1, 2, 3, 4, 5].map((x) => b.run(x)));
  assert.deepEqual(out, [2, 4, 6, 8, 10]);
  assert.deepEqual(calls, [[1, 2], [3, 4], [5]]);
});

test("a failed batch rejects every call in it and not the other batches' calls", async () => {
  const b = createRowBatcher<number, number>({
    maxRows: 2,
    async runBatch(rows) { if (rows.includes(3)) throw new Error('boom'); return rows.map((x) => -x); },
  });
  const out = await Promise.allSettled([1, 2, 3, 4].map((x) => b.run(x)));
  assert.deepEqual(out.map((o) => o.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected']);
  assert.match(String((out[2] as PromiseRejectedResult).reason), /boom/);
});

test('a batch that answers the wrong number of rows rejects its calls', async () => {
  const b = createRowBatcher<number, number>({ maxRows: 8, async runBatch(rows) { return rows.slice(1); } });
  await assert.rejects(Promise.all([b.run(1), b.run(2)]), /2 rows gave 1 outputs/);
});

test('maxRows must be a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => createRowBatcher<number, number>({ maxRows: bad, async runBatch(r) { return r; } }), /positive integer/);
  }
});
