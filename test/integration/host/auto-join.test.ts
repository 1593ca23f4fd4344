/**
 * An `--auto` newcomer in a model of 32 experts (more than a rebalancing check looks at whole) joins
 * the one expert nobody serves: its join view takes a first view of the swarm (provider searches for
 * two experts, then the records the hosts found know, over the real records protocol) and looks at
 * every expert (expert-host/rebalancing/join-view.ts). Real DHT, real host processes.
 *
 * Host A serves every L0 expert and L1.0, whose shard it lacks: it fetches it from host B, so A's
 * discovery holds B's record, as a host's does after any lookup. B serves L1.* except L1.9. The
 * newcomer's two searches (L0.0, L0.1) find A only; B's 15 experts are covered by what A shares.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, test } from 'vitest';
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

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'swarmpath-auto-join-'));
  boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
});
afterAll(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  await boot?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** The experts of `spawnHost` args. */
const serve = (experts: readonly string[]) => experts.flatMap((e) => ['--expert', e]);

test('an --auto newcomer among 32 experts learns the swarm from the hosts it finds and joins the expert nobody serves', async () => {
  const model = await synthFixture({ dModel: 16, heads: 2, layers: 1, levels: [16, 16], seed: 5 });
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
