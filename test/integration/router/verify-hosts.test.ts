/**
 * A host that serves the right expert ids with the wrong weights (another synthetic package of the
 * same name: its files match its own manifest, so nothing but the output can tell) joins a real
 * local swarm. The swarm's router probes every replica before using it and never sends it work:
 * every text equals the monolithic one and the host is counted and logged as a probe mismatch. A
 * second router started with --no-verify-hosts does use it, and its texts change: the probe is what
 * keeps them right.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { createMonolithicRunner } from '../../../shared/model/monolithic.ts';
import { loadPackage } from '../../../shared/model/package.ts';
import { choosePath } from '../../../shared/model/path-choice.ts';
import { encode } from '../../../shared/model/tokenizer.ts';
import type { ModelPackage } from '../../../shared/runtime-types.ts';
import { spawnSwarmpath, type SwarmpathChild } from '../../../router/supervisor/swarmpath-child.ts';
import { startLocalSwarm, type LocalSwarm } from '../../helpers/local-swarm.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { waitFor } from '../../helpers/wait-for.ts';

let swarm: LocalSwarm;
let pkg: ModelPackage;
const children: SwarmpathChild[] = [];
const logs: string[] = [];
let evilPeer = '';
let unverifiedHttp = '';

const EXPERTS = ['L0.0', 'L0.1', 'L1.0', 'L1.1'];
const requests = Array.from({ length: 16 }, (_, i) => ({
  prompt: ['The quick brown fox', 'def main():', 'Once upon a time', 'import numpy as np'][i % 4] + ` #${i}`,
  max_tokens: 12, temperature: 0.8, seed: 100 + i,
}));

async function complete(base: string, body: unknown) {
  const r = await fetch(`${base}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text) as { choices: { text: string }[]; swarmpath: { path: string[]; hosts: string[] } };
}

/** Waits until `base`'s /v1/swarm lists `peer` for every expert. */
async function waitListed(base: string, peer: string): Promise<void> {
  await waitFor(() => `${base} to list ${peer}\n${logs.slice(-30).join('\n')}`, async () => {
    const sw = await (await fetch(`${base}/v1/swarm`)).json() as { experts: Record<string, { peerId: string }[]> };
    return EXPERTS.every((e) => sw.experts[e]?.some((r) => r.peerId === peer));
  }, { timeoutMs: 60_000, intervalMs: 250 });
}

/**
 * Waits until the swarm's router has probed `peer` for every expert and found it wrong (its log
 * says so); polling /v1/swarm makes the router refresh discovery meanwhile. The router probes new
 * replicas by itself, so a wrong host may be caught before /v1/swarm ever lists it.
 */
async function waitCaught(peer: string): Promise<void> {
  const caught = () => EXPERTS.every((e) => swarm.logs.some((l) => l.includes(`host ${peer} does not compute expert ${e} `)));
  await waitFor(() => `${swarm.http} to catch ${peer}\n${swarm.logs.slice(-30).join('\n')}`, async () => {
    if (caught()) return true;
    await (await fetch(`${swarm.http}/v1/swarm`)).text();
    return false;
  }, { timeoutMs: 60_000, intervalMs: 250 });
}

/** The monolithic text of each request (its path, its seed). */
async function references(): Promise<string[]> {
  const out: string[] = [];
  for (const q of requests) {
    const mono = await createMonolithicRunner({ pkg, path: choosePath(pkg.manifest.router, encode(q.prompt)).path });
    out.push((await mono.generate(q.prompt, { maxTokens: q.max_tokens, temperature: q.temperature, seed: q.seed })).text);
    await mono.release();
  }
  return out;
}

beforeAll(async () => {
  const modelDir = await synthFixture({});
  const evilDir = await synthFixture({ seed: 2 }); // same name ('synth'), same expert ids, other weights
  pkg = await loadPackage(modelDir);
  // A 1 s discovery cache, as the unverified router below: the wrong host joins after the swarm.
  swarm = await startLocalSwarm({ model: modelDir, replicas: 1, spare: 0, hostArgs: ['--no-rebalance'], routerArgs: ['--discovery-cache-s=1'] });
  const onLog = (line: string) => { logs.push(line); };
  const evil = spawnSwarmpath({
    name: 'evil host', onLog,
    args: ['host', '--model', evilDir, ...EXPERTS.flatMap((e) => ['--expert', e]), '--no-rebalance', ...swarm.bootstrap.flatMap((b) => ['--bootstrap', b])],
  });
  children.push(evil);
  evilPeer = (await evil.ready).peerId as string;
  const router = spawnSwarmpath({
    name: 'unverified router', onLog,
    args: ['router', '--model', modelDir, '--http-listen', '127.0.0.1:0', '--no-verify-hosts', '--discovery-cache-s', '1',
      ...swarm.bootstrap.flatMap((b) => ['--bootstrap', b])],
  });
  children.push(router);
  unverifiedHttp = (await router.ready).http as string;
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop(5000)));
  if (swarm) assert.equal(await swarm.stop(), 0);
});

describe('routers probe hosts before trusting them', () => {
  it('never sends work to a host whose output fails its probe; texts stay the monolithic ones', async () => {
    await waitCaught(evilPeer);
    const want = await references();
    for (let wave = 0; wave < 2; wave++) {
      const got = await Promise.all(requests.slice(wave * 8, wave * 8 + 8).map((q) => complete(swarm.http, q)));
      got.forEach((r, i) => {
        assert.ok(!r.swarmpath.hosts.includes(evilPeer), `request ${wave * 8 + i} went to the wrong host: ${JSON.stringify(r.swarmpath)}`);
        assert.equal(r.choices[0].text, want[wave * 8 + i], `request ${wave * 8 + i}`);
      });
    }
    const metrics = await (await fetch(`${swarm.http}/metrics`)).text();
    const mismatches = [...metrics.matchAll(/^swarmpath_host_probes_total\{[^}]*result="mismatch"[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
    const oks = [...metrics.matchAll(/^swarmpath_host_probes_total\{[^}]*result="ok"[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
    assert.ok(mismatches >= 1, `the wrong host was probed and caught:\n${metrics.split('\n').filter((l) => l.includes('probes')).join('\n')}`);
    assert.ok(oks >= 2, 'the honest hosts passed their probes');
    assert.ok(swarm.logs.some((l) => l.includes(`host ${evilPeer} does not compute expert`)), 'the mismatch is logged');
    const sw = await (await fetch(`${swarm.http}/v1/swarm`)).json() as { experts: Record<string, { peerId: string }[]> };
    const distrusted = EXPERTS.filter((e) => !sw.experts[e].some((r) => r.peerId === evilPeer));
    assert.ok(distrusted.length >= 1, '/v1/swarm leaves out the expert(s) it failed');
  });

  it('without probes (--no-verify-hosts) the same host gets work and the texts change', async () => {
    await waitListed(unverifiedHttp, evilPeer);
    const want = await references();
    let usedEvil = 0;
    let changed = 0;
    for (let wave = 0; wave < 2; wave++) {
      const got = await Promise.all(requests.slice(wave * 8, wave * 8 + 8).map((q) => complete(unverifiedHttp, q)));
      got.forEach((r, i) => {
        if (r.swarmpath.hosts.includes(evilPeer)) {
          usedEvil++;
          if (r.choices[0].text !== want[wave * 8 + i]) changed++;
        }
      });
    }
    assert.ok(usedEvil >= 1, 'the unverified router used the wrong host');
    assert.ok(changed >= 1, `and its texts differ from the model's (${changed} of ${usedEvil})`);
  });
});
