/**
 * `Sessions` (many sessions over one stream, shared/grpc/session-mux.ts and expert-host/session-mux.ts)
 * against a real host process over real gRPC: its sessions compute what plain Session streams do,
 * the steps of concurrent sessions travel together, each sub-stream keeps its own limits and
 * statuses, a hostile peer is capped as with Session streams, and against a host without
 * `Sessions` the client falls back to Session streams.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { createExpertClient } from '../../../shared/grpc/client.ts';
import { callMetadata } from '../../../shared/grpc/call-options.ts';
import { clientChannelOptions, DEFAULT_MAX_MESSAGE_BYTES } from '../../../shared/grpc/channel-options.ts';
import { expertHostClientConstructor, expertHostService } from '../../../shared/grpc/proto.ts';
import { openSessionOnStream } from '../../../shared/grpc/session-client.ts';
import { MUX_ROTATE_MS, SessionMux, type SessionsCall } from '../../../shared/grpc/session-mux.ts';
import type { SessionRequestMsg, SessionResponseMsg, SessionsRequestMsg } from '../../../shared/grpc/wire-types.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';
import { rawPeer } from './raw-peer.ts';

const D = 64;
let host: HostProcess;
const opts = () => ({ deadlineMs: Date.now() + 20_000 });
const x = (T: number, seed: number): F32 => ({ data: new Float32Array(T * D).map((_, i) => Math.sin(seed * 1.7 + i * 0.31)), dims: [1, T, D] });

beforeAll(async () => {
  host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--max-steps-in-flight', '2']);
}, 60_000);
afterAll(async () => { assert.equal(await host?.stop(), 0); });

test('16 sessions over one Sessions stream equal plain Session streams, and their steps travel together', async () => {
  const address = host.ready.grpc;
  const Ctor = expertHostClientConstructor();
  const raw = new Ctor(address, grpc.credentials.createInsecure(), clientChannelOptions(DEFAULT_MAX_MESSAGE_BYTES)) as any;
  let sent = 0, received = 0, opened = 0;
  const mux = new SessionMux({
    openMux: () => {
      opened++;
      const call = raw.Sessions(new grpc.Metadata(), {}) as SessionsCall;
      const write = call.write.bind(call);
      call.write = ((m: SessionsRequestMsg) => { sent++; return write(m); }) as typeof call.write;
      call.on('data', () => { received++; });
      return call;
    },
    openPlain: (tp) => raw.Session(callMetadata({ traceparent: tp }), {}),
    onUnsupported: () => assert.fail('the host knows Sessions'),
  });
  const plain = createExpertClient(address, { sessionMux: false });
  try {
    const K = 16, STEPS = 6;
    const run = async (open: () => ReturnType<typeof plain.openSession>) => {
      const sessions = await Promise.all(Array.from({ length: K }, () => open()));
      const outs: number[][][] = sessions.map(() => []);
      await Promise.all(sessions.map((s, k) => s.step(x(3, k), 0, opts()).then((h) => outs[k].push([...h.data]))));
      for (let i = 0; i < STEPS; i++) {
        await Promise.all(sessions.map(async (s, k) => outs[k].push([...(await s.step(x(1, 100 * k + i), 3 + i, opts())).data])));
      }
      for (const s of sessions) s.close();
      return outs;
    };
    const viaPlain = await run(() => plain.openSession('L0.0', 16, opts()));
    const viaMux = await run(() => openSessionOnStream(mux.open(''), address, { expertId: 'L0.0', maxLength: 16, opts: opts() }));
    for (let k = 0; k < viaPlain.length; k++) {
      for (let i = 0; i < viaPlain[k].length; i++) {
        const worst = viaPlain[k][i].reduce((w, v, j) => Math.max(w, Math.abs(v - viaMux[k][i][j])), 0);
        assert.ok(worst <= 1e-5, `session ${k} step ${i}: ${worst}`);
      }
    }
    assert.equal(opened, 1, 'one Sessions stream for all');
    // 16 opens, 16 prefills, 6 x 16 steps and 16 closes: 144 items each way, far fewer messages.
    assert.ok(sent <= 16, `${sent} messages sent for 144 items`);
    assert.ok(received <= 16, `${received} messages received for 144 items`);
  } finally {
    mux.close();
    plain.close();
    raw.close();
  }
});

/** A SessionMux to the test's host whose streams are watched: `endedOf[i]` resolves when stream i + 1 ends; `ended` lists them in order. */
function watchedMux(clock: () => number, idleMs?: number) {
  const address = host.ready.grpc;
  const raw = new (expertHostClientConstructor())(address, grpc.credentials.createInsecure(), clientChannelOptions(DEFAULT_MAX_MESSAGE_BYTES)) as any;
  const ended: number[] = [];
  const endedOf: Promise<void>[] = [];
  const mux = new SessionMux({
    openMux: () => {
      const n = endedOf.length + 1;
      const call = raw.Sessions(new grpc.Metadata(), {}) as SessionsCall;
      endedOf.push(new Promise<void>((resolve) => call.on('status', () => { ended.push(n); resolve(); })));
      return call;
    },
    openPlain: (tp) => raw.Session(callMetadata({ traceparent: tp }), {}),
    onUnsupported: () => assert.fail('the host knows Sessions'),
  }, clock, idleMs);
  const open = () => openSessionOnStream(mux.open(''), address, { expertId: 'L0.0', maxLength: 16, opts: opts() });
  return { mux, raw, open, ended, endedOf };
}

test('a Sessions stream takes new sessions for MUX_ROTATE_MS, then ends with its last session', async () => {
  let now = 0;
  const { mux, raw, open, ended, endedOf } = watchedMux(() => now);
  try {
    const old = await open();
    await old.step(x(2, 1), 0, opts());
    now = MUX_ROTATE_MS - 1;
    const same = await open();
    assert.equal(endedOf.length, 1);
    same.close();
    now = MUX_ROTATE_MS;
    const fresh = await open();
    assert.equal(endedOf.length, 2, 'a new stream for sessions opened after MUX_ROTATE_MS');
    assert.equal(mux.streams, 2);
    // The old stream still carries its session, then ends with it.
    assert.equal((await old.step(x(1, 2), 2, opts())).dims[1], 1);
    assert.deepEqual(ended, []);
    old.close();
    await endedOf[0];
    assert.deepEqual(ended, [1]);
    assert.equal(mux.streams, 1);
    assert.equal((await fresh.step(x(1, 3), 0, opts())).dims[1], 1);
    fresh.close();
  } finally {
    mux.close();
    raw.close();
  }
});

test('a Sessions stream left without sessions for idleMs is closed, and the next session opens a new one', async () => {
  const { mux, raw, open, endedOf } = watchedMux(Date.now, 50);
  try {
    const s = await open();
    await s.step(x(1, 1), 0, opts());
    s.close();
    await endedOf[0];
    assert.equal(mux.streams, 0, 'the idle stream was closed');
    const again = await open();
    assert.equal(endedOf.length, 2, 'a new stream for the next session');
    assert.equal((await again.step(x(1, 2), 0, opts())).dims[1], 1);
    again.close();
  } finally {
    mux.close();
    raw.close();
  }
});

test('each sub-stream keeps its own limits and status: one over --max-steps-in-flight ends alone', async () => {
  const client = createExpertClient(host.ready.grpc);
  try {
    const [greedy, calm] = await Promise.all([client.openSession('L0.0', 16, opts()), client.openSession('L0.0', 16, opts())]);
    // Four steps written at once on one session: past its bound of 2 in flight, the stream ends.
    const results = await Promise.allSettled([0, 1, 2, 3].map((p) => greedy.step(x(1, p), p, opts())));
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.ok(failed.length > 0, 'the greedy session is refused');
    assert.equal(failed[0].reason.code, 'RESOURCE_EXHAUSTED', String(failed[0].reason));
    assert.match(String(failed[0].reason.message), /max-steps-in-flight/);
    // The other session on the same Sessions stream goes on.
    for (let p = 0; p < 4; p++) assert.equal((await calm.step(x(1, p), p, opts())).dims[1], 1);
    // A session on an expert the host does not serve fails with the host's own code, as on a Session stream.
    const plain = createExpertClient(host.ready.grpc, { sessionMux: false });
    const codes = await Promise.all([client, plain].map((c) => c.openSession('L9.9', 16, opts()).then(() => 'opened', (e) => e.code)));
    plain.close();
    assert.notEqual(codes[0], 'opened');
    assert.equal(codes[0], codes[1]);
    calm.close();
    // Closing frees the host's session.
    await waitFor('the host to free the closed sessions', async () => (await client.info(opts())).experts[0].activeSessions === 0);
  } finally {
    client.close();
  }
});

test('a hostile peer opening 300 sub-streams is capped at its Session-stream limit, the Sessions stream counting as one', async () => {
  const h = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--peer-max-sessions', '20']);
  const peer = rawPeer(h.ready.grpc);
  try {
    const call = peer.Sessions();
    const statuses: { code: number; details: string }[] = [];
    let openedCount = 0;
    const allAnswered = new Promise<void>((resolve) => call.on('data', (m: any) => {
      for (const it of m.items) {
        if (it.response?.opened) openedCount++;
        if (it.end) statuses.push({ code: it.code, details: it.message });
      }
      if (openedCount + statuses.length >= 300) resolve();
    }));
    call.on('error', () => {});
    call.write({ items: Array.from({ length: 300 }, (_, i) => ({ stream: i + 1, request: { open: { expert_id: 'L0.0', max_length: 8 } } })) });
    await allAnswered;
    assert.equal(openedCount + statuses.length, 300);
    assert.equal(openedCount, 19, 'the Sessions stream holds one of the 20 slots');
    assert.ok(statuses.every((s) => s.code === grpc.status.RESOURCE_EXHAUSTED && /--peer-max-sessions/.test(s.details)), JSON.stringify(statuses[0]));
    call.cancel();
  } finally {
    peer.close();
    assert.equal(await h.stop(), 0);
  }
});

test('against a host without Sessions the client falls back to Session streams, replaying what it wrote', async () => {
  // A host of an older version: only `Session` (an echo: opened, then each step's input back).
  let plainStreams = 0;
  const server = new grpc.Server();
  const unimplemented = (_call: unknown, cb?: (e: unknown) => void) => cb?.({ code: grpc.status.UNIMPLEMENTED, details: 'old host' });
  server.addService(expertHostService(), {
    Info: unimplemented, Forward: unimplemented, FetchShard: unimplemented, Push: unimplemented,
    Session(call: grpc.ServerDuplexStream<SessionRequestMsg, SessionResponseMsg>) {
      plainStreams++;
      call.on('data', (m: SessionRequestMsg) => {
        if (m.open) call.write({ opened: { sessionId: `s${plainStreams}`, kvReservedBytes: 0 } } as SessionResponseMsg);
        if (m.step) call.write({ step: { stepId: m.step.stepId, hidden: m.step.hidden, length: m.step.position + 1, pushed: false, inputDigest: Buffer.alloc(0) } } as SessionResponseMsg);
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = createExpertClient(`127.0.0.1:${port}`);
  try {
    // Three sessions opened (and stepped) before the host's UNIMPLEMENTED can arrive, one after.
    const early = await Promise.all([1, 2, 3].map(async (k) => {
      const s = await client.openSession('L0.0', 16, opts());
      return [...(await s.step(x(1, k), 0, opts())).data];
    }));
    early.forEach((out, k) => assert.deepEqual(out, [...x(1, k + 1).data]));
    const late = await client.openSession('L0.0', 16, opts());
    assert.deepEqual([...(await late.step(x(2, 9), 0, opts())).data], [...x(2, 9).data]);
    assert.equal(plainStreams, 4, 'every session went over its own Session stream');
  } finally {
    client.close();
    server.forceShutdown();
  }
});
