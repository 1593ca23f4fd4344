import assert from 'node:assert/strict';
import { test } from 'vitest';
import { decideFlush, type FlushState } from '../../../expert-host/batch-policy.ts';

const base: FlushState = { queued: 1, queuedRows: 1, running: false, oldestWaitMs: 0, idleSessions: 3, maxRows: 8, maxWaitMs: 2 };

test('nothing to do when empty or busy', () => {
  assert.deepEqual(decideFlush({ ...base, queued: 0, queuedRows: 0 }), { type: 'none' });
  assert.deepEqual(decideFlush({ ...base, running: true }), { type: 'none' });
});

test('an idle host never waits', () => {
  assert.deepEqual(decideFlush({ ...base, idleSessions: 0 }), { type: 'run' });
  assert.deepEqual(decideFlush({ ...base, maxWaitMs: 0 }), { type: 'run' });
});

test('a full batch runs at once', () => {
  assert.deepEqual(decideFlush({ ...base, queued: 8, queuedRows: 8 }), { type: 'run' });
});

test('waits for company at most maxWaitMs after the oldest call', () => {
  assert.deepEqual(decideFlush({ ...base, oldestWaitMs: 0.5 }), { type: 'wait', ms: 1.5 });
  assert.deepEqual(decideFlush({ ...base, oldestWaitMs: 2 }), { type: 'run' });
});
