/**
 * Migration with real processes (issue 5, part 1): a rebalancing host on an over-provisioned expert
 * moves to an under-provisioned one. Its package lacks the target's ONNX file, so it fetches the
 * shard from the live replica with FetchShard into --store, verifies its sha256, serves and
 * announces it, then stops announcing the old expert and retires it; the expert it left keeps its
 * other replicas, and the moved host computes exactly what the original replica computes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, beforeAll, afterAll } from 'vitest';
import { createDiscovery, type DhtDiscovery } from '../../../shared/dht/discovery.ts';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { createExpertClient } from '../../../shared/grpc/client.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Manifest } from '../../../shared/manifest.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from '../host/spawn-host.ts';

let model: string;
let partial: string;
let store: string;
let tmp: string;
let manifest: Manifest;
let boot: SwarmNode;
let discovery: DhtDiscovery;
const hosts: HostProcess[] = [];

beforeAll(async () => {
  model = await synthFixture();
  manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8'));
  tmp = await mkdtemp(join(tmpdir(), 'swarmpath-migrate-'));
  partial = join(tmp, 'partial');
  store = join(tmp, 'store');
  await cp(model, partial, { recursive: true, filter: (src) => !src.endsWith('L1.0.onnx') });
  boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  discovery = createDiscovery({ cacheMs: 0, allowPrivateAddresses: true }, { node: boot, log: silentLogger });
});

afterAll(async () => {
  for (const h of hosts) if (h.proc.exitCode === null && h.proc.signalCode === null) await h.stop('SIGKILL');
  await boot?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** Parsed stdout events of a host. */
function events(h: HostProcess): Record<string, unknown>[] {
  return h.events().flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
}

test('an over-provisioned host fetches, verifies and serves an under-provisioned expert, then retires its old one', async () => {
  const bootstrap = ['--bootstrap', boot.multiaddrs()[0], '--record-ttl', '10'];
  // Pinned hosts (no --rebalance): L0.0, L0.1 and L1.1 have two replicas each, L1.0 one.
  const pinned = await Promise.all([
    spawnHost(['--model', model, '--expert', 'L0.0', '--expert', 'L0.1', '--expert', 'L1.1', ...bootstrap]),
    spawnHost(['--model', model, '--expert', 'L0.0', '--expert', 'L0.1', '--expert', 'L1.1', ...bootstrap]),
    spawnHost(['--model', model, '--expert', 'L1.0', ...bootstrap]),
  ]);
  hosts.push(...pinned);
  const e = pinned[2];
  // The mover: a third replica of L0.0, whose package lacks L1.0's file.
  // Debug logs: its 'rebalance: stay' lines show each check that decided nothing (counted below).
  const m = await spawnHost(['--model', partial, '--store', store, '--expert', 'L0.0', '--rebalance', '--rebalance-interval-s', '1', '--rebalance-delay-s', '1', ...bootstrap],
    { env: { SWARMPATH_LOG: 'debug' } });
  hosts.push(m);
  assert.deepEqual(m.ready.experts, ['L0.0']);

  const moved = await waitFor('the move', () => events(m).find((ev) => ev.event === 'migration' && (ev.type === 'moved' || ev.type === 'failed')), { timeoutMs: 45_000, intervalMs: 200 });
  assert.equal(moved.type, 'moved', `stderr:\n${m.stderr().slice(-3000)}`);
  const decision = events(m).find((ev) => ev.event === 'rebalance');
  assert.equal(decision?.type, 'move');
  assert.equal(decision?.from, 'L0.0');
  assert.equal(decision?.to, 'L1.0');
  assert.equal(decision?.reason, 'under-provisioned');
  const announced = events(m).find((ev) => ev.event === 'migration' && ev.type === 'announced');
  assert.equal(announced?.source, 'fetched', 'the shard came over FetchShard, not from the package');

  // The fetched file is the manifest's, byte for byte.
  const entry = manifest.levels[1].experts[0];
  const fetched = await readFile(join(store, entry.file));
  assert.equal(createHash('sha256').update(fetched).digest('hex'), entry.sha256);

  // The host serves L1.0 only (L0.0 retired after its drain), and the DHT says so.
  const client = createExpertClient(m.ready.grpc);
  const ref = createExpertClient(e.ready.grpc);
  try {
    await waitFor('L0.0 retired', async () => {
      const info = await client.info({ deadlineMs: Date.now() + 5000 });
      return info.experts.map((x) => x.expertId).join(',') === 'L1.0';
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const l10 = await waitFor('M listed for L1.0', async () => {
      const r = await discovery.replicas(manifest.name, 'L1.0', { fresh: true });
      return r.some((x) => x.peerId === m.ready.peerId) ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(l10.length, 2);
    const l00 = await discovery.replicas(manifest.name, 'L0.0', { fresh: true });
    assert.ok(!l00.some((x) => x.peerId === m.ready.peerId), 'no longer announced for L0.0');
    assert.equal(l00.length, 2, 'L0.0 keeps its two pinned replicas');

    // Same input, same output as the original replica.
    const D = manifest.dims.d_model;
    const data = new Float32Array(3 * D).map((_, i) => Math.sin(i * 0.37));
    const hidden = { data, dims: [1, 3, D] };
    const a = await client.forward('L1.0', hidden, { deadlineMs: Date.now() + 5000 });
    const b = await ref.forward('L1.0', hidden, { deadlineMs: Date.now() + 5000 });
    assert.deepEqual(Array.from(a.data), Array.from(b.data));
  } finally {
    client.close();
    ref.close();
  }
  // Once the swarm is balanced, nothing moves again (L0.0: 2, L0.1: 2, L1.0: 2, L1.1: 2).
  const count = () => events(m).filter((ev) => ev.event === 'rebalance').length;
  const n = count();
  const stays = () => m.stderr().split('\n').filter((l) => l.includes('"msg":"rebalance: stay"')).length;
  const s0 = stays();
  await waitFor('three more rebalancing checks by the mover', () => stays() >= s0 + 3, { timeoutMs: 30_000, intervalMs: 200 });
  assert.equal(count(), n, 'no further moves on a balanced swarm');
});
