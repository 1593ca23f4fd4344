/**
 * (b) Hostile pipelining on one Session stream of a real host process:
 * - a peer that sends a thousand 128 KiB steps and stops reading results: the host stops answering
 *   once the peer's unread replies fill the stream (write backpressure), so the steps pile up to
 *   --max-steps-in-flight and the stream ends with RESOURCE_EXHAUSTED: its KV memory is freed and
 *   the host's memory does not grow with what was sent;
 * - a peer that pipelines thousands of small decode steps at once gets RESOURCE_EXHAUSTED.
 * Another peer is served meanwhile and afterwards.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';
import { f32, rawPeer, rawSession, rssOf, unary } from './raw-peer.ts';

const D = 64;
let host: HostProcess;
let other: any;
let capacity: number;
const clients: any[] = [];
const freeKv = async () => Number((await unary(other, 'Info', {})).kv_free_bytes);
beforeAll(async () => {
  host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht']);
  other = rawPeer(host.ready.grpc);
  clients.push(other);
  capacity = Number((await unary(other, 'Info', {})).kv_capacity_bytes);
});
afterAll(async () => {
  for (const c of clients) c.close();
  if (host) assert.equal(await host.stop(), 0);
});

/** Another peer opens a session and steps it. */
async function otherPeerIsServed(): Promise<void> {
  const s = rawSession(other, [{ open: { expert_id: 'L0.0', max_length: 8 } }, { step: { step_id: 5, position: 0, hidden: f32([1, 3, D]) } }]);
  await waitFor('the other peer\'s step', () => s.replies.length === 2);
  assert.equal(s.replies[1].step.length, 3);
  s.call.end();
  assert.equal((await s.ended).code, grpc.status.OK);
}

test('(b) a peer that floods big steps and reads no results: RESOURCE_EXHAUSTED, host memory flat', async (t) => {
  const STEPS = 1000;
  const T = 512; // [1,512,64] float32: 128 KiB a step and a reply
  const attacker = rawPeer(host.ready.grpc);
  clients.push(attacker);
  const step = { step: { step_id: 0, position: 0, hidden: f32([1, T, D]) } };
  // 96 steps read normally first, 8 at a time: the host's memory (onnxruntime's arena, the
  // allocator, V8's heap) grows on the first calls of this size whoever makes them, then stays flat.
  const flood = rawSession(attacker, [{ open: { expert_id: 'L0.0', max_length: T } }]);
  for (let i = 1; i <= 12; i++) {
    for (let k = 0; k < 8; k++) flood.call.write(step);
    await waitFor('warm-up results', () => flood.replies.length === 1 + 8 * i);
  }
  assert.equal(await freeKv(), capacity - T * 2 * D * 4, 'the session holds its KV memory');
  const rssBefore = await rssOf(host.proc.pid!);
  flood.call.pause(); // reads no more results
  for (let i = 0; i < STEPS; i++) flood.call.write(step);

  await waitFor('the host to end the flooding session and free its KV memory', async () => (await freeKv()) === capacity, { timeoutMs: 30_000 });
  const rssAfter = await rssOf(host.proc.pid!);
  flood.call.resume();
  const end = await flood.ended;
  assert.equal(end.code, grpc.status.RESOURCE_EXHAUSTED, end.details);
  assert.match(end.details, /more than 8 steps in flight on this stream \(--max-steps-in-flight\)/);
  const answered = flood.replies.length - 97;
  assert.ok(answered < 64, `a bounded number of steps was answered: ${answered}`);
  await t.annotate(`${answered} of ${STEPS} steps answered; host RSS ${(rssBefore / 2 ** 20).toFixed(1)} -> ${(rssAfter / 2 ** 20).toFixed(1)} MiB while the peer queued ${(STEPS * T * D * 4 / 2 ** 20).toFixed(0)} MiB of steps`);
  assert.ok(rssAfter - rssBefore < 64 * 2 ** 20, `host RSS grew by ${((rssAfter - rssBefore) / 2 ** 20).toFixed(1)} MiB`);
  flood.call.cancel();
  await otherPeerIsServed();
});

test('(b) a peer that pipelines thousands of decode steps at once gets RESOURCE_EXHAUSTED', async (t) => {
  const STEPS = 5000;
  const attacker = rawPeer(host.ready.grpc);
  clients.push(attacker);
  const step = { step: { step_id: 1, position: 0, hidden: f32([1, 1, D]) } };
  const flood = rawSession(attacker, [{ open: { expert_id: 'L0.0', max_length: 4 } }, ...Array.from({ length: STEPS }, () => step)]);
  const end = await flood.ended;
  assert.equal(end.code, grpc.status.RESOURCE_EXHAUSTED, end.details);
  assert.match(end.details, /more than 8 steps in flight/);
  await t.annotate(`${flood.replies.length - 1} of ${STEPS} pipelined steps answered`);
  assert.ok(flood.replies.length - 1 < STEPS / 2);
  await waitFor('its KV memory to be freed', async () => (await freeKv()) === capacity);
  await otherPeerIsServed();
});
