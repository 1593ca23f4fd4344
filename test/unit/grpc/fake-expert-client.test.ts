import assert from 'node:assert/strict';
import { test } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { createFakeExpertClient, fakeExpertForward } from '../../fakes/expert-client.ts';
import { expertClientContract } from './expert-client-contract.ts';

const D = 8;
expertClientContract('fake', () => ({
  client: () => createFakeExpertClient({ address: 'fake:1', experts: ['L0.0'], dModel: D }),
  expertId: 'L0.0',
  D,
  reference: async (seq) => fakeExpertForward('L0.0', seq, D),
  tolerance: 1e-6,
}));

const dl = () => ({ deadlineMs: Date.now() + 1000 });
const h = { data: new Float32Array(D), dims: [1, 1, D] };

test('fake: injected failures, kill, KV slots', async () => {
  const c = createFakeExpertClient({ address: 'fake:2', experts: ['L0.0'], dModel: D, kvSlots: 1 });
  c.failNext('RESOURCE_EXHAUSTED');
  await assert.rejects(c.forward('L0.0', h, dl()), (e) => e instanceof SwarmpathError && e.code === 'RESOURCE_EXHAUSTED');
  await c.forward('L0.0', h, dl());
  const s = await c.openSession('L0.0', 4, dl());
  await assert.rejects(c.openSession('L0.0', 4, dl()), (e) => e instanceof SwarmpathError && e.code === 'RESOURCE_EXHAUSTED');
  c.kill();
  assert.equal(s.closed, true);
  await assert.rejects(s.step(h, 0, dl()), (e) => e instanceof SwarmpathError && e.code === 'UNAVAILABLE');
  await assert.rejects(c.info(dl()), (e) => e instanceof SwarmpathError && e.code === 'UNAVAILABLE');
  assert.deepEqual(c.calls, ['forward:L0.0', 'forward:L0.0', 'open:L0.0', 'open:L0.0', 'step:L0.0@0', 'info']);
});

test('fake: latency beyond the deadline is DEADLINE_EXCEEDED', async () => {
  const c = createFakeExpertClient({ address: 'fake:3', experts: ['L0.0'], dModel: D, latencyMs: 50 });
  await assert.rejects(c.forward('L0.0', h, { deadlineMs: Date.now() + 10 }), (e) => e instanceof SwarmpathError && e.code === 'DEADLINE_EXCEEDED');
  await c.forward('L0.0', h, { deadlineMs: Date.now() + 500 });
});
