/**
 * A real host child process on a synth model, driven by a client built only from proto/ (its own
 * proto-loader options, nothing from shared/grpc): every kind of bad input gets a status with a
 * message saying what was wrong, and the host keeps serving.
 */
import assert from 'node:assert/strict';
import { test, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';

const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));
const def = protoLoader.loadSync('swarmpath/v1/expert_host.proto', { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] });
const pkg = grpc.loadPackageDefinition(def) as any;
const D = 64; // synth default d_model
const MAX_CONTEXT = 512; // synth default

let host: HostProcess;
let client: any;
const deadline = () => ({ deadline: new Date(Date.now() + 10_000) });
const f32 = (dims: number[], seed = 1) => {
  const n = dims.reduce((a, b) => a * b, 1);
  const a = new Float32Array(n).map((_, i) => Math.sin(seed + i * 0.37));
  return { dtype: 'FLOAT32', shape: dims, data: Buffer.from(a.buffer) };
};

function unary(method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) => client[method](req, deadline(), (e: any, r: any) => (e ? reject(e) : resolve(r))));
}
async function expectStatus(p: Promise<unknown>, code: grpc.status, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.code, code, `status ${e.code} (${e.details})`);
    assert.match(e.details, re);
    return true;
  });
}

/** Runs a Session stream: writes `msgs` one by one (awaiting each reply count), resolves replies or rejects the status. */
function session(msgs: any[], opts: { waitReplies?: number } = {}): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const call = client.Session();
    const replies: any[] = [];
    call.on('data', (m: any) => { replies.push(m); if (opts.waitReplies !== undefined && replies.length >= opts.waitReplies) { call.end(); } });
    call.on('error', reject);
    call.on('status', (s: any) => { if (s.code === 0) resolve(replies); });
    for (const m of msgs) call.write(m);
    if (opts.waitReplies === undefined) call.end();
  });
}

beforeAll(async () => {
  const model = await synthFixture();
  host = await spawnHost(['--model', model, '--expert', 'L0.0', '--no-dht', '--kv-cache-mb', '0.5', '--session-idle-s', '1', '--max-message-mb', '1']);
  client = new pkg.swarmpath.v1.ExpertHost(host.ready.grpc, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 << 20 });
});
afterAll(async () => {
  client?.close();
  assert.equal(await host?.stop(), 0);
});

test('Info answers a client built only from proto/', async () => {
  const r = await unary('Info', {});
  assert.equal(r.model, 'synth');
  assert.deepEqual(r.experts.map((e: any) => e.expert_id), ['L0.0']);
  assert.equal(r.state, 'ONLINE');
  assert.equal(r.max_context, MAX_CONTEXT);
  assert.equal(Number(r.kv_capacity_bytes), 0.5 * 1024 * 1024);
  assert.equal(r.kv_free_bytes, r.kv_capacity_bytes);
  assert.equal(r.device, 'cpu');
});

test('Forward: a well-formed call works', async () => {
  const r = await unary('Forward', { expert_id: 'L0.0', hidden: f32([2, 3, D]) });
  assert.deepEqual(r.hidden.shape, [2, 3, D]);
  assert.equal(r.hidden.dtype, 'FLOAT32');
  assert.equal(r.hidden.data.length, 2 * 3 * D * 4);
});

test('Forward: wrong dtype, shape, byte length, unknown expert, missing tensor', async () => {
  await expectStatus(unary('Forward', { expert_id: 'L0.0', hidden: { ...f32([1, 1, D]), dtype: 'INT64' } }), grpc.status.INVALID_ARGUMENT, /dtype must be FLOAT32 or FLOAT16, got INT64/);
  await expectStatus(unary('Forward', { expert_id: 'L0.0', hidden: f32([1, 1, D + 1]) }), grpc.status.INVALID_ARGUMENT, new RegExp(`dimension 2 .* must be ${D}`));
  await expectStatus(unary('Forward', { expert_id: 'L0.0', hidden: f32([1, D]) }), grpc.status.INVALID_ARGUMENT, /expected rank 3/);
  await expectStatus(unary('Forward', { expert_id: 'L0.0', hidden: { ...f32([1, 2, D]), shape: [1, 3, D] } }), grpc.status.INVALID_ARGUMENT, /needs 768 bytes, got 512/);
  await expectStatus(unary('Forward', { expert_id: 'L7.7', hidden: f32([1, 1, D]) }), grpc.status.NOT_FOUND, /does not serve expert "L7.7"/);
  await expectStatus(unary('Forward', { expert_id: 'L0.0' }), grpc.status.INVALID_ARGUMENT, /missing tensor/);
  await expectStatus(unary('Forward', { expert_id: 'L0.0', hidden: f32([1, MAX_CONTEXT + 1, D]) }), grpc.status.INVALID_ARGUMENT, /exceeds max_context/);
});

test('an oversized message is refused by the server limit', async () => {
  await expectStatus(unary('Forward', { expert_id: 'L0.0', hidden: f32([16, 512, D]) }), grpc.status.RESOURCE_EXHAUSTED, /larger than max/);
});

test('garbage bytes on the wire get a status, unary and streaming', async () => {
  const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x0f]);
  const raw = new grpc.Client(host.ready.grpc, grpc.credentials.createInsecure());
  try {
    await assert.rejects(new Promise((resolve, reject) => raw.makeUnaryRequest('/swarmpath.v1.ExpertHost/Forward', (b: Buffer) => b, (b: Buffer) => b, garbage, deadline(), (e, r) => (e ? reject(e) : resolve(r)))),
      (e: any) => e.code === grpc.status.INTERNAL && /deserializ/i.test(e.details));
    await assert.rejects(new Promise((resolve, reject) => {
      const call = raw.makeBidiStreamRequest('/swarmpath.v1.ExpertHost/Session', (b: Buffer) => b, (b: Buffer) => b);
      call.on('data', () => {});
      call.on('error', reject);
      call.on('status', (s) => { if (s.code === 0) resolve(s); });
      call.write(garbage);
    }), (e: any) => e.code === grpc.status.INTERNAL && /deserializ/i.test(e.details));
  } finally {
    raw.close();
  }
});

test('Session: step before open, empty request, second open, bad step tensors', async () => {
  await expectStatus(session([{ step: { step_id: 1, position: 0, hidden: f32([1, 1, D]) } }]), grpc.status.FAILED_PRECONDITION, /step before open/);
  await expectStatus(session([{}]), grpc.status.INVALID_ARGUMENT, /set one of open, step, close/);
  const open = { open: { expert_id: 'L0.0', max_length: 8 } };
  await expectStatus(session([open, open]), grpc.status.FAILED_PRECONDITION, /already has an open session/);
  await expectStatus(session([{ open: { expert_id: 'L5.5', max_length: 8 } }]), grpc.status.NOT_FOUND, /does not serve expert "L5.5"/);
  await expectStatus(session([{ open: { expert_id: 'L0.0', max_length: MAX_CONTEXT + 1 } }]), grpc.status.INVALID_ARGUMENT, /max_length must be in \[1, 512\]/);
  await expectStatus(session([open, { step: { step_id: 1, position: 0, hidden: f32([2, 1, D]) } }]), grpc.status.INVALID_ARGUMENT, /dimension 0 .* must be 1/);
  await expectStatus(session([open, { step: { step_id: 1, position: 0, hidden: { ...f32([1, 1, D]), dtype: 'INT64' } } }]), grpc.status.INVALID_ARGUMENT, /got INT64/);
  await expectStatus(session([open, { step: { step_id: 1, position: 3, hidden: f32([1, 1, D]) } }]), grpc.status.INVALID_ARGUMENT, /position 3 is past the cache length 0/);
  await expectStatus(session([open, { step: { step_id: 1, position: 0, hidden: f32([1, 9, D]) } }]), grpc.status.INVALID_ARGUMENT, /max_length 8/);
});

test('Session: a good session answers each step by step_id and close ends it cleanly', async () => {
  const replies = await session([
    { open: { expert_id: 'L0.0', max_length: 8, reply_dtype: 'FLOAT16' } },
    { step: { step_id: 41, position: 0, hidden: f32([1, 3, D]) } },
    { step: { step_id: 42, position: 3, hidden: f32([1, 1, D], 2) } },
    { close: {} },
  ]);
  assert.equal(replies[0].kind, 'opened');
  assert.equal(Number(replies[0].opened.kv_reserved_bytes), 8 * 2 * D * 4);
  assert.deepEqual(replies.slice(1).map((r) => [r.kind, String(r.step.step_id), r.step.length, r.step.hidden.dtype]), [['step', '41', 3, 'FLOAT16'], ['step', '42', 4, 'FLOAT16']]);
  assert.equal(replies[1].step.hidden.data.length, 3 * D * 2);
});

test('a full KV budget gives RESOURCE_EXHAUSTED at open, and frees on close', async () => {
  // 0.5 MiB = exactly two sessions of 512 positions (512 * 2 * 64 * 4 bytes each).
  const calls = [client.Session(), client.Session()];
  const opened = await Promise.all(calls.map((c) => new Promise<any>((resolve, reject) => {
    c.once('data', resolve);
    c.on('error', reject);
    c.write({ open: { expert_id: 'L0.0', max_length: MAX_CONTEXT } });
  })));
  assert.ok(opened.every((o) => o.kind === 'opened'));
  assert.equal(Number((await unary('Info', {})).kv_free_bytes), 0);
  await expectStatus(session([{ open: { expert_id: 'L0.0', max_length: 1 } }]), grpc.status.RESOURCE_EXHAUSTED, /KV cache full/);
  for (const c of calls) { c.on('status', () => {}); c.write({ close: {} }); c.end(); }
  await waitFor('the closed sessions to free their KV bytes', async () => Number((await unary('Info', {})).kv_free_bytes) === 0.5 * 1024 * 1024, { timeoutMs: 5_000 });
  assert.equal(Number((await unary('Info', {})).kv_free_bytes), 0.5 * 1024 * 1024);
  await session([{ open: { expert_id: 'L0.0', max_length: MAX_CONTEXT } }, { close: {} }]);
});

test('an idle session is evicted: the stream ends with NOT_FOUND naming eviction', async () => {
  const call = client.Session();
  const status = new Promise<any>((resolve) => { call.on('error', resolve); call.on('status', (s: any) => { if (s.code === 0) resolve(s); }); });
  call.on('data', () => {});
  call.write({ open: { expert_id: 'L0.0', max_length: 4 } });
  const e = await status; // ends by itself after --session-idle-s 1
  assert.equal(e.code, grpc.status.NOT_FOUND);
  assert.match(e.details, /evicted after being idle/);
  assert.equal(Number((await unary('Info', {})).kv_free_bytes), 0.5 * 1024 * 1024);
});

test('after all of that the host still serves', async () => {
  const r = await unary('Forward', { expert_id: 'L0.0', hidden: f32([1, 1, D]) });
  assert.deepEqual(r.hidden.shape, [1, 1, D]);
  assert.equal(host.proc.exitCode, null);
});
