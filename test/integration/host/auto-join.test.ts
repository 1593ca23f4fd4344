/**
 * An `--auto` newcomer in a model of 32 experts (more than a rebalancing check looks at whole) joins
 * the one expert nobody serves: its join view takes a first view of the swarm (provider searches for
 * two experts, then the records the hosts found know, over the real records protocol) and looks at
 * every expert (expert-host/rebalancing/join-view.ts). Real DHT, real host processes.
 *
 * Host A serves every L0 expert and L1.0, whose shard it lacks: it fetches it from host B, so A's
 * discovery holds B's record, as a host's does after any lookup. B serves L1.* except L1.9. The
 * newcomer's two searches (L0.0, L0.1) find A only; B's 15 experts are covered by what A shares.
 *
 * Then that newcomer leaves (L1.9 unserved again) and a hostile peer joins: a real libp2p node that
 * provides L0.0 (so a newcomer's search finds it) and shares, over the same protocol, records of 40
 * hosts that do not exist (each signed by a fresh key: valid records) serving L1.9. Believed, they
 * make L1.9 look amply served (a check probes the holders of thin experts first), and the next
 * newcomer joins elsewhere; the first view's audit (shared/dht/first-view.ts) finds the peer's
 * sampled records dead and drops all 40.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createAnnouncer, type Announcer } from '../../../shared/dht/announcer.ts';
import { signHostRecord } from '../../../shared/dht/host-record.ts';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Manifest } from '../../../shared/manifest.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';

const L0 = Array.from({ length: 16 }, (_, i) => `L0.${i}`);
const L1 = Array.from({ length: 16 }, (_, i) => `L1.${i}`);
const LOST = 'L1.9';

let boot: SwarmNode;
let tmp: string;
const hosts: HostProcess[] = [];
const hostile: { node?: SwarmNode; announcer?: Announcer } = {};
let model: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'swarmpath-auto-join-'));
  boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
});
afterAll(async () => {
  await hostile.announcer?.stop().catch(() => {});
  await hostile.node?.stop().catch(() => {});
  await Promise.all(hosts.map((h) => h.stop()));
  await boot?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** The experts of `spawnHost` args. */
const serve = (experts: readonly string[]) => experts.flatMap((e) => ['--expert', e]);

test('an --auto newcomer among 32 experts learns the swarm from the hosts it finds and joins the expert nobody serves', async () => {
  model = await synthFixture({ dModel: 16, heads: 2, layers: 1, levels: [16, 16], seed: 5 });
  const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as Manifest;
  // Host A's package lacks L1.0's shard.
  const partial = join(tmp, 'partial');
  for (const e of manifest.levels.flatMap((l) => l.experts).filter((x) => x.id !== 'L1.0')) {
    await mkdir(dirname(join(partial, e.file)), { recursive: true });
    await copyFile(join(model, e.file), join(partial, e.file));
  }
  for (const f of ['manifest.json', manifest.stem.file, manifest.head.file]) await copyFile(join(model, f), join(partial, f));

  const common = ['--bootstrap', boot.multiaddrs()[0], '--allow-private-addresses'];
  const b = await spawnHost(['--model', model, ...serve(L1.filter((e) => e !== LOST)), ...common]);
  hosts.push(b);
  const a = await spawnHost(['--model', partial, '--store', join(tmp, 'store'), ...serve([...L0, 'L1.0']), ...common], { timeoutMs: 60_000 });
  hosts.push(a);
  assert.match(a.stderr(), /fetched/, 'A fetched L1.0 from B (so A knows B\'s record)');

  const n = await spawnHost(['--model', model, '--auto', ...common], { timeoutMs: 60_000 });
  hosts.push(n);
  assert.deepEqual(n.ready.experts, [LOST]);
  const line = n.stderr().split('\n').find((l) => l.includes('--auto: first view of the swarm'));
  assert.ok(line, `a first view logged:\n${n.stderr().slice(-2000)}`);
  const first = JSON.parse(line) as { experts: number; covered: number; asked: number; learnt: number };
  assert.equal(first.experts, 32);
  assert.equal(first.covered, 31, 'every served expert, B\'s from what A shared');
  assert.ok(first.asked >= 1 && first.learnt >= 2, `hosts asked ${first.asked}, records learnt ${first.learnt}`);
  assert.match(n.stderr(), /--auto: serving L1\.9/);
});

test('a hostile peer\'s made-up hosts do not hide an unserved expert from a newcomer: the first view\'s audit drops what it shared', async () => {
  // The newcomer of the first test leaves: L1.9 is unserved again.
  const [, , first] = hosts;
  assert.equal(await first.stop(), 0);
  const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as Manifest;
  const node = await createSwarmNode({ bootstrap: boot.multiaddrs(), log: silentLogger });
  await node.start();
  hostile.node = node;
  const common = { model: manifest.name, version: 't', device: 'cpu' as const, kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: false };
  // 40 hosts that do not exist, each at an address of its own (a liar picks any): port 9 of
  // 127.0.0.2, 127.0.0.3, ..., where nothing listens.
  const madeUp = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const key = await generateKeyPair('Ed25519');
    const peerId = peerIdFromPrivateKey(key).toString();
    return signHostRecord({ ...common, peerId, seq: 1, expiresAt: Date.now() + 600_000, state: 'ONLINE', experts: [LOST], grpc: `127.0.0.${i + 2}:9` }, key);
  }));
  node.shareRecords(() => madeUp);
  hostile.announcer = createAnnouncer({ ttlS: 600, record: { ...common, experts: ['L0.0'], grpc: '127.0.0.1:9' } }, { node, log: silentLogger });
  await hostile.announcer.start();

  const n = await spawnHost(['--model', model, '--auto', '--bootstrap', boot.multiaddrs()[0], '--allow-private-addresses'], { timeoutMs: 60_000 });
  hosts.push(n);
  const line = n.stderr().split('\n').find((l) => l.includes('--auto: first view of the swarm'));
  assert.ok(line, `a first view logged:\n${n.stderr().slice(-2000)}`);
  const view = JSON.parse(line) as { covered: number; asked: number; learnt: number; doubted: number; dropped: number };
  // The hostile peer is doubted (host A, honest, could be too if most of what it vouched for died).
  assert.ok(view.doubted >= 1, `the hostile peer doubted: ${line}`);
  assert.ok(view.dropped >= 40, `every made-up host dropped: ${line}`);
  assert.deepEqual(n.ready.experts, [LOST], `the newcomer still found the unserved expert: ${n.stderr().slice(-1500)}`);
});
