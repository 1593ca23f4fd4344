/**
 * (d) FetchShard from lying hosts, over real gRPC: a raw grpc-js server plays the liar, a real host
 * process the honest replica, and the client is shared/grpc/fetch-shard.ts with the manifest's size.
 * A host that sends more bytes than the manifest says, or claims a bigger file, fails the fetch at
 * once: the stream is cancelled (the liar cannot fill the disk) and no `.part` is left, so the next
 * fetch from an honest host starts clean and succeeds. A partial file of wrong bytes left by a liar
 * that stopped early makes the honest resume fail its hash; it is then fetched once from scratch.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { SwarmpathError } from '../../../shared/errors.ts';
import { createExpertClient, type GrpcExpertClient } from '../../../shared/grpc/client.ts';
import { fetchShard, partPath } from '../../../shared/grpc/fetch-shard.ts';
import { expertHostService } from '../../../shared/grpc/proto.ts';
import type { ExpertEntry, Manifest } from '../../../shared/manifest.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';

type Lie = 'endless' | 'huge-total' | 'garbage-then-stop' | 'garbage-full';
interface Liar { address: string; lie: Lie; sent: number; cancelled: Promise<void>; server: grpc.Server }

let honest: HostProcess;
let honestClient: GrpcExpertClient;
let entry: ExpertEntry;
let file: Buffer;
let tmp: string;
const liars: Liar[] = [];
const dl = () => ({ deadlineMs: Date.now() + 20_000 });
const CHUNK = 4096;

/** A FetchShard server that lies in the way `lie` says, with the right sha256 in every chunk. */
async function startLiar(lie: Lie): Promise<Liar> {
  const server = new grpc.Server();
  let onCancel = () => {};
  const liar: Liar = { address: '', lie, sent: 0, cancelled: new Promise<void>((r) => { onCancel = r; }), server };
  server.addService(expertHostService(), {
    async FetchShard(call: grpc.ServerWritableStream<any, any>) {
      call.on('cancelled', onCancel);
      const total = lie === 'huge-total' ? 10 * 2 ** 30 : entry.bytes;
      const garbage = lie.startsWith('garbage');
      const end = lie === 'garbage-then-stop' ? Math.floor(entry.bytes / 2) : lie === 'endless' ? Infinity : entry.bytes;
      for (let at = call.request.offset; at < end && !call.cancelled;) {
        const real = file.subarray(at, at + CHUNK);
        const data = garbage ? Buffer.alloc(Math.min(CHUNK, end - at), 0xab) : real.length > 0 ? real : Buffer.alloc(CHUNK, 0xcd);
        liar.sent += data.length;
        at += data.length;
        if (!call.write({ data, offset: at - data.length, totalBytes: total, sha256: entry.sha256 })) await new Promise((r) => { call.once('drain', r); call.once('cancelled', r); });
      }
      if (!call.cancelled) call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  liar.address = `127.0.0.1:${port}`;
  liars.push(liar);
  return liar;
}

beforeAll(async () => {
  const model = await synthFixture();
  const manifest: Manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8'));
  entry = manifest.levels[0].experts[1];
  file = await readFile(join(model, entry.file));
  tmp = await mkdtemp(join(tmpdir(), 'swarmpath-liar-'));
  honest = await spawnHost(['--model', model, '--expert', entry.id, '--no-dht']);
  honestClient = createExpertClient(honest.ready.grpc);
});
afterAll(async () => {
  honestClient?.close();
  for (const l of liars) l.server.forceShutdown();
  if (honest) assert.equal(await honest.stop(), 0);
  await rm(tmp, { recursive: true, force: true });
});

const integrity = (re: RegExp) => (e: unknown) => e instanceof SwarmpathError && e.code === 'INTEGRITY' && re.test(e.message);
const exists = (p: string) => stat(p).then(() => true, () => false);

async function expectHonestFetch(dest: string): Promise<void> {
  const r = await fetchShard(honestClient, entry.id, dest, entry.sha256, { ...dl(), expectedBytes: entry.bytes });
  assert.equal(r.bytes, entry.bytes);
  assert.equal(createHash('sha256').update(await readFile(dest)).digest('hex'), entry.sha256);
  assert.equal(await exists(partPath(dest, entry.sha256)), false);
}

test('(d) a host sending more bytes than the manifest says: the fetch fails and stops reading, no .part is left, an honest host then serves the file', async () => {
  const liar = await startLiar('endless');
  const client = createExpertClient(liar.address);
  const dest = join(tmp, 'endless', `${entry.id}.onnx`);
  try {
    await assert.rejects(fetchShard(client, entry.id, dest, entry.sha256, { ...dl(), expectedBytes: entry.bytes }),
      integrity(new RegExp(`sent more than the file's ${entry.bytes} bytes; partial file discarded`)));
    await liar.cancelled; // the client cancelled the stream: the liar's endless bytes are not read
    assert.ok(liar.sent < entry.bytes + 64 * CHUNK, `the liar wrote ${liar.sent} bytes before the client hung up`);
    assert.equal(await exists(partPath(dest, entry.sha256)), false, 'no partial file left');
    assert.equal(await exists(dest), false);
  } finally {
    client.close();
  }
  await expectHonestFetch(dest);
});

test('(d) a host claiming a bigger file is refused at its first chunk', async () => {
  const liar = await startLiar('huge-total');
  const client = createExpertClient(liar.address);
  const dest = join(tmp, 'huge', `${entry.id}.onnx`);
  try {
    await assert.rejects(fetchShard(client, entry.id, dest, entry.sha256, { ...dl(), expectedBytes: entry.bytes }),
      integrity(new RegExp(`claims ${10 * 2 ** 30} bytes, the file has ${entry.bytes}`)));
    await liar.cancelled;
    assert.equal(await exists(partPath(dest, entry.sha256)), false);
  } finally {
    client.close();
  }
  await expectHonestFetch(dest);
});

test('(d) wrong bytes: a whole wrong file is discarded; a wrong partial file makes the honest resume start over once', async () => {
  const full = await startLiar('garbage-full');
  const half = await startLiar('garbage-then-stop');
  const c1 = createExpertClient(full.address);
  const c2 = createExpertClient(half.address);
  const dest = join(tmp, 'garbage', `${entry.id}.onnx`);
  try {
    await assert.rejects(fetchShard(c1, entry.id, dest, entry.sha256, { ...dl(), expectedBytes: entry.bytes }), integrity(/has sha256 [0-9a-f]{64}, want .*; partial file discarded/));
    assert.equal(await exists(partPath(dest, entry.sha256)), false);
    await assert.rejects(fetchShard(c2, entry.id, dest, entry.sha256, { ...dl(), expectedBytes: entry.bytes }), integrity(/ended at byte \d+ of \d+/));
    assert.equal((await stat(partPath(dest, entry.sha256))).size, Math.floor(entry.bytes / 2), 'a short transfer is kept for resuming');
  } finally {
    c1.close();
    c2.close();
  }
  const r = await fetchShard(honestClient, entry.id, dest, entry.sha256, { ...dl(), expectedBytes: entry.bytes });
  assert.equal(r.resumedFrom, 0, 'the resumed try failed its hash; the file was fetched again from scratch');
  assert.deepEqual(await readFile(dest), file);
  assert.equal(await exists(partPath(dest, entry.sha256)), false);
});
