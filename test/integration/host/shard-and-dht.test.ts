/**
 * FetchShard end to end (chunks, resume, sha256 verified on arrival), and a host in a real DHT: its
 * record (gRPC address, experts, free KV, state) is found by discovery; an `--auto` host with an
 * empty package fetches the shard it picked from a live replica into `--store`; SIGTERM publishes
 * OFFLINE so discovery drops the host.
 */
import assert from 'node:assert/strict';
import { infoNonce, verifyInfoSignature } from '../../../shared/identity.ts';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, beforeAll, afterAll } from 'vitest';
import { SwarmpathError } from '../../../shared/errors.ts';
import { createExpertClient, type GrpcExpertClient } from '../../../shared/grpc/client.ts';
import { fetchShard } from '../../../shared/grpc/fetch-shard.ts';
import { createDiscovery } from '../../../shared/dht/discovery.ts';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Manifest } from '../../../shared/manifest.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';

const ALL = ['L0.0', 'L0.1', 'L1.0', 'L1.1'];
let model: string;
let manifest: Manifest;
let boot: SwarmNode;
let hostA: HostProcess;
let clientA: GrpcExpertClient;
let tmp: string;
const dl = () => ({ deadlineMs: Date.now() + 15_000 });

beforeAll(async () => {
  model = await synthFixture();
  manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8'));
  tmp = await mkdtemp(join(tmpdir(), 'swarmpath-shard-'));
  boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  hostA = await spawnHost(['--model', model, ...ALL.flatMap((e) => ['--expert', e]), '--bootstrap', boot.multiaddrs()[0], '--record-ttl', '10']);
  clientA = createExpertClient(hostA.ready.grpc);
});
afterAll(async () => {
  clientA?.close();
  if (hostA && hostA.proc.exitCode === null) await hostA.stop();
  await boot?.stop();
  await rm(tmp, { recursive: true, force: true });
});

test('FetchShard round trip verifies sha256; an interrupted download resumes from its offset', async () => {
  const entry = manifest.levels[0].experts[1];
  const dest = join(tmp, 'fetched', 'L0.1.onnx');
  const r = await fetchShard(clientA, 'L0.1', dest, entry.sha256, dl());
  assert.equal(r.bytes, entry.bytes);
  assert.equal(r.resumedFrom, 0);
  assert.equal(createHash('sha256').update(await readFile(dest)).digest('hex'), entry.sha256);

  const dest2 = join(tmp, 'resumed', 'L0.1.onnx');
  await mkdir(join(tmp, 'resumed'), { recursive: true });
  const whole = await readFile(join(model, entry.file));
  await writeFile(`${dest2}.${entry.sha256.slice(0, 16)}.part`, whole.subarray(0, 1000));
  const r2 = await fetchShard(clientA, 'L0.1', dest2, entry.sha256, dl());
  assert.equal(r2.resumedFrom, 1000);
  assert.deepEqual(await readFile(dest2), whole);

  // The chunks themselves: offsets, total and the sha256 of the whole file in each.
  const chunks = [];
  for await (const c of clientA.fetchShardChunks('L0.1', 5, dl())) chunks.push(c);
  assert.equal(chunks[0].offset, 5);
  assert.ok(chunks.every((c) => c.sha256 === entry.sha256 && c.totalBytes === entry.bytes));
  assert.equal(chunks.reduce((n, c) => n + c.data.byteLength, 0), entry.bytes - 5);
});

test('FetchShard refuses a wrong sha256, an unknown expert and an offset past the end', async () => {
  const dest = join(tmp, 'bad', 'L0.0.onnx');
  const wrong = 'ab'.repeat(32);
  await assert.rejects(fetchShard(clientA, 'L0.0', dest, wrong, dl()), (e) => e instanceof SwarmpathError && e.code === 'INTEGRITY' && /serves L0.0 with sha256/.test(e.message));
  await assert.rejects(stat(`${dest}.${wrong.slice(0, 16)}.part`), 'the partial file is discarded');
  await assert.rejects(fetchShard(clientA, 'L9.9', dest, wrong, dl()), (e) => e instanceof SwarmpathError && e.code === 'UNKNOWN_EXPERT');
  await assert.rejects((async () => { for await (const _ of clientA.fetchShardChunks('L0.0', 1e9, dl())); })(), (e) => e instanceof SwarmpathError && e.code === 'INVALID_ARGUMENT' && /outside/.test(e.message));
});

test('the host record is found in the DHT; an --auto host fetches its shard; SIGTERM announces OFFLINE', async () => {
  const probe = await createSwarmNode({ log: silentLogger, bootstrap: [boot.multiaddrs()[0]], clientMode: true });
  await probe.start();
  const discovery = createDiscovery({ allowPrivateAddresses: true }, { node: probe, log: silentLogger });
  let hostB: HostProcess | undefined;
  try {
    const find = (expertId: string, peerId: string) => waitFor(`${peerId} in the DHT for ${expertId}`,
      async () => (await discovery.replicas('synth', expertId, { fresh: true })).find((x) => x.peerId === peerId),
      { timeoutMs: 10_000, intervalMs: 200 });
    const rec = await find('L1.0', hostA.ready.peerId);
    assert.ok(rec, 'host A found');
    assert.equal(rec.grpc, hostA.ready.grpc);
    assert.deepEqual(rec.experts, ALL);
    assert.equal(rec.state, 'ONLINE');
    assert.equal(rec.kvCapacityBytes, 512 * 1024 * 1024);
    assert.equal(rec.kvFreeBytes, rec.kvCapacityBytes);
    assert.equal(rec.auto, false);
    assert.equal(rec.device, 'cpu');

    // Its endpoint proves the record's identity: Info signs a fresh nonce with the host's libp2p key.
    const nonce = infoNonce();
    const signedInfo = await clientA.info({ deadlineMs: Date.now() + 5000, nonce });
    assert.equal(await verifyInfoSignature(rec.peerId, nonce, signedInfo.identitySignature), true, 'signed by the record\'s peer');
    assert.equal(await verifyInfoSignature(rec.peerId, infoNonce(), signedInfo.identitySignature), false, 'for that nonce only');
    assert.equal(await verifyInfoSignature(probe.peerId, nonce, signedInfo.identitySignature), false, 'not by another peer');

    // A package with only its manifest: the --auto host must fetch the shard it picks.
    const empty = join(tmp, 'empty-pkg');
    await mkdir(empty, { recursive: true });
    await copyFile(join(model, 'manifest.json'), join(empty, 'manifest.json'));
    const store = join(tmp, 'store');
    hostB = await spawnHost(['--model', empty, '--auto', '--store', store, '--bootstrap', boot.multiaddrs()[0]]);
    assert.equal(hostB.ready.experts.length, 1);
    const picked = hostB.ready.experts[0];
    assert.ok(ALL.includes(picked));
    const entry = manifest.levels.flatMap((l) => l.experts).find((e) => e.id === picked)!;
    assert.equal(createHash('sha256').update(await readFile(join(store, entry.file))).digest('hex'), entry.sha256);
    assert.match(hostB.stderr(), /fetched/);
    const clientB = createExpertClient(hostB.ready.grpc);
    const x = { data: new Float32Array(2 * 64).map((_, i) => Math.sin(i)), dims: [1, 2, 64] };
    assert.deepEqual([...(await clientB.forward(picked, x, dl())).data], [...(await clientA.forward(picked, x, dl())).data]);
    clientB.close();
    const recB = await find(picked, hostB.ready.peerId);
    assert.equal(recB?.auto, true);

    assert.equal(await hostA.stop(), 0);
    const gone = await discovery.replicas('synth', 'L1.0', { fresh: true });
    assert.ok(!gone.some((r) => r.peerId === hostA.ready.peerId), 'host A is dropped at once (OFFLINE record), not after its TTL');
  } finally {
    if (hostB) assert.equal(await hostB.stop(), 0);
    await probe.stop();
  }
});
