/**
 * A real host child process and the real client (shared/grpc/client.ts): the ExpertClient contract,
 * session decoding equal to a local onnxruntime run of the same expert, float16 on the wire within a
 * stated tolerance, concurrent sessions, deadlines, traceparent.
 */
import assert from 'node:assert/strict';
import { test, beforeAll, afterAll } from 'vitest';
import { createExpertClient, type GrpcExpertClient } from '../../../shared/grpc/client.ts';
import { emptyPast } from '../../../shared/model/kv-cache.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { openExpert } from '../../../shared/model/ort.ts';
import type { ExpertModel } from '../../../shared/runtime-types.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { expertClientContract } from '../../unit/grpc/expert-client-contract.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';

const D = 64;
/** float16 activations on the wire, both ways: max |diff| from the float32 result, relative to max(1, |ref|). */
const FLOAT16_TOLERANCE = 4e-3; // measured ~9e-4 on the synth model (d_model 64)
let host: HostProcess;
let client: GrpcExpertClient;
let local: ExpertModel;

async function reference(seq: Float32Array, N: number): Promise<Float32Array> {
  const r = await local.run({ data: seq, dims: [1, N, D] }, emptyPast(local.entry.layers, 1), { data: new Float32Array(N).fill(1), dims: [1, N] });
  return r.hiddenOut.data;
}

beforeAll(async () => {
  const dir = await synthFixture();
  local = await openExpert(await loadPackage(dir), 'L0.0');
  host = await spawnHost(['--model', dir, '--expert', 'L0.0', '--expert', 'L1.1', '--no-dht']);
  client = createExpertClient(host.ready.grpc);
});
afterAll(async () => {
  client?.close();
  await local?.release();
  assert.equal(await host?.stop(), 0);
});

expertClientContract('grpc', () => ({ client: () => client, expertId: 'L0.0', D, reference, tolerance: 1e-5 }));

const dl = () => ({ deadlineMs: Date.now() + 10_000 });
const seqOf = (N: number, seed: number) => new Float32Array(N * D).map((_, i) => Math.sin(seed + i * 0.0731) * 2);

test('float16 on the wire stays within the stated tolerance', async () => {
  const N = 12;
  const seq = seqOf(N, 5);
  const ref = await reference(seq, N);
  const s = await client.openSession('L0.0', 32, { ...dl(), wireDtype: 'float16' });
  const out: number[] = [...(await s.step({ data: seq.slice(0, 8 * D), dims: [1, 8, D] }, 0, { ...dl(), wireDtype: 'float16' })).data];
  for (let p = 8; p < N; p++) out.push(...(await s.step({ data: seq.slice(p * D, (p + 1) * D), dims: [1, 1, D] }, p, { ...dl(), wireDtype: 'float16' })).data);
  s.close();
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
  assert.ok(worst <= FLOAT16_TOLERANCE, `float16 relative error ${worst}`);
  if (process.env.SWARMPATH_TEST_VERBOSE) console.log(`float16 wire: max relative error ${worst}`);
  assert.ok(worst > 0, 'float16 really was used on the wire');
  const fwd = await client.forward('L0.0', { data: seq, dims: [1, N, D] }, { ...dl(), wireDtype: 'float16' });
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(fwd.data[i] - ref[i]) <= FLOAT16_TOLERANCE * Math.max(1, Math.abs(ref[i])));
});

test('16 concurrent sessions with different lengths each decode exactly their own sequence', async () => {
  const K = 16;
  const sessions = await Promise.all(Array.from({ length: K }, () => client.openSession('L0.0', 40, dl())));
  const seqs = Array.from({ length: K }, (_, k) => seqOf(k + 8, 100 + k));
  const outs: number[][] = seqs.map(() => []);
  // Prefill k+1 positions, then decode the rest, all sessions at once each round.
  await Promise.all(sessions.map(async (s, k) => { outs[k].push(...(await s.step({ data: seqs[k].slice(0, (k + 1) * D), dims: [1, k + 1, D] }, 0, dl())).data); }));
  for (let round = 0; round < 7; round++) {
    await Promise.all(sessions.map(async (s, k) => {
      const p = k + 1 + round;
      outs[k].push(...(await s.step({ data: seqs[k].slice(p * D, (p + 1) * D), dims: [1, 1, D] }, p, dl())).data);
    }));
  }
  for (let k = 0; k < K; k++) {
    const ref = await reference(seqs[k], k + 8);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(outs[k][i] - ref[i]));
    assert.ok(worst <= 1e-5, `session ${k}: max |diff| ${worst}`);
  }
  for (const s of sessions) s.close();
});

test('two experts on one host are independent; info reports sessions per expert', async () => {
  const a = await client.openSession('L0.0', 8, dl());
  const b = await client.openSession('L1.1', 8, dl());
  const i = await client.info(dl());
  assert.deepEqual(i.experts.map((e) => [e.expertId, e.activeSessions]), [['L0.0', 1], ['L1.1', 1]]);
  const h = { data: seqOf(1, 9), dims: [1, 1, D] };
  const ra = await a.step(h, 0, dl());
  const rb = await b.step(h, 0, dl());
  assert.notDeepEqual([...ra.data], [...rb.data]);
  a.close();
  b.close();
});

test('an unreachable host fails fast with UNAVAILABLE or DEADLINE_EXCEEDED, never hangs', async () => {
  const dead = createExpertClient('127.0.0.1:1');
  try {
    await assert.rejects(dead.info({ deadlineMs: Date.now() + 1500 }), (e: any) => ['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(e.code));
    await assert.rejects(dead.openSession('L0.0', 4, { deadlineMs: Date.now() + 1500 }), (e: any) => ['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(e.code));
  } finally {
    dead.close();
  }
});

test('an aborted signal cancels a call', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(client.info({ ...dl(), signal: ac.signal }), (e: any) => e.code === 'CANCELLED');
});

test('the client sends traceparent in metadata and honours the deadline on a silent server', async () => {
  const grpc = await import('@grpc/grpc-js');
  const { expertHostService } = await import('../../../shared/grpc/proto.ts');
  const seen: string[] = [];
  const server = new grpc.Server();
  server.addService(expertHostService(), {
    Info(call: any, cb: any) { seen.push(String(call.metadata.get('traceparent')[0])); cb(null, {}); },
    Forward() { /* never answers */ },
    Session(call: any) { seen.push(String(call.metadata.get('traceparent')[0])); /* never opens */ },
    FetchShard(call: any) { call.end(); },
  });
  const port = await new Promise<number>((r, j) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  const c = createExpertClient(`127.0.0.1:${port}`);
  try {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await c.info({ ...dl(), traceparent: tp });
    const t0 = Date.now();
    await assert.rejects(c.forward('L0.0', { data: new Float32Array(D), dims: [1, 1, D] }, { deadlineMs: Date.now() + 300 }), (e: any) => e.code === 'DEADLINE_EXCEEDED');
    await assert.rejects(c.openSession('L0.0', 4, { deadlineMs: Date.now() + 300, traceparent: tp }), (e: any) => e.code === 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - t0 < 3000);
    assert.deepEqual(seen, [tp, tp]);
  } finally {
    c.close();
    server.forceShutdown();
  }
});
