import assert from 'node:assert/strict';
import { test } from 'vitest';
import { createRateLimiter } from '../../../expert-host/rate-limit.ts';

test('a key spends its burst at once, then earns perS tokens a second; keys are apart', () => {
  let t = 1000;
  const r = createRateLimiter({ perS: 10, burst: 20, now: () => t });
  const takes = (key: string, n: number) => Array.from({ length: n }, () => r.take(key)).filter(Boolean).length;
  assert.equal(takes('a', 25), 20, 'the burst');
  assert.equal(takes('b', 25), 20, 'another key has its own bucket');
  t += 500;
  assert.equal(takes('a', 10), 5, '0.5 s earns 5');
  t += 50;
  assert.equal(takes('a', 10), 0, '0.05 s earns half a token: not enough');
  t += 50;
  assert.equal(takes('a', 10), 1);
  t += 60_000;
  assert.equal(takes('a', 100), 20, 'a quiet minute fills the bucket, never past the burst');
});

test('refusals do not delay the refill; a forgotten (expired) bucket is exactly a full one', () => {
  let t = 0;
  const r = createRateLimiter({ perS: 2, burst: 4, now: () => t });
  for (let i = 0; i < 4; i++) assert.ok(r.take('a'));
  for (t = 10; t < 500; t += 10) assert.equal(r.take('a'), false, `t = ${t}`); // hammering while empty...
  t = 500;
  assert.ok(r.take('a'), '...does not delay the token earned by 0.5 s');
  assert.equal(r.take('a'), false);
  t = 1000;
  assert.ok(r.take('a'));
  t = 3000; // full again 2 s (burst / perS) after the last spend, when lru-cache's ttl may drop the entry
  assert.equal([1, 2, 3, 4, 5].filter(() => r.take('a')).length, 4);
});

test('at most maxKeys buckets are kept; a dropped key starts full', () => {
  const t = 0;
  const r = createRateLimiter({ perS: 1, burst: 1, maxKeys: 2, now: () => t });
  assert.ok(r.take('a'));
  assert.equal(r.take('a'), false);
  assert.ok(r.take('b') && r.take('c'), 'a third key pushes out the least recently used (a)');
  assert.ok(r.take('a'));
  assert.throws(() => createRateLimiter({ perS: 0, burst: 1 }), RangeError);
  assert.throws(() => createRateLimiter({ perS: 1, burst: 0.5 }), RangeError);
});
