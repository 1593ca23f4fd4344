/**
 * Real processes: `swarmpath dht` as the bootstrap peer, four fake hosts (real libp2p node + real
 * announcer, made-up gRPC addresses), and `swarmpath ls --json` finding them; a SIGTERMed host
 * (OFFLINE record) and a SIGKILLed host (record TTL 3 s) leave the listing.
 */
import { test, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { waitFor } from '../../helpers/wait-for.ts';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, FAKE_HOST, killAll, runToEnd, startChild, type Child } from './processes.ts';

const children: Child[] = [];
let dir = '';
afterAll(async () => {
  killAll(children);
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Listing { model: string; experts: Record<string, { peerId: string; grpc: string; state: string; load: number; throughput: number }[]> }

async function ls(bootstrap: string): Promise<{ listing: Listing; ms: number }> {
  const r = await runToEnd(CLI, ['ls', '--bootstrap', bootstrap, '--json', '--timeout', '5'], 30_000);
  assert.equal(r.code, 0, `ls failed: ${r.stderr.slice(-2000)}`);
  return { listing: JSON.parse(r.stdout) as Listing, ms: r.ms };
}

const grpcsOf = (l: Listing) => [...new Set(Object.values(l.experts).flat().map((r) => r.grpc))].sort();

test('dht + four hosts: ls finds them; SIGTERM and SIGKILL make hosts leave', async (t) => {
  dir = await mkdtemp(join(tmpdir(), 'swarmpath-dht-'));
  const keyFile = join(dir, 'dht.key');
  // A bootstrap peer that keeps at most 32 connections still serves a swarm this size.
  const dht = startChild(CLI, ['dht', '--key-file', keyFile, '--dht-max-connections', '32']);
  children.push(dht);
  const ready = await dht.ready;
  assert.equal(ready.role, 'dht');
  assert.match(String(ready.peerId), /^12D3Koo/);
  const multiaddrs = ready.multiaddrs as string[];
  assert.ok(multiaddrs.length > 0 && multiaddrs.every((m) => m.startsWith('/ip4/127.0.0.1/tcp/') && m.endsWith(`/p2p/${ready.peerId}`)));
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  const boot = multiaddrs[0];

  // Host 1 is the one SIGKILLed: a 3 s TTL. The others keep a long TTL so that a slow refresh on a
  // busy machine never makes a live host lapse.
  const hosts = [0, 1, 2, 3].map((i) => startChild(FAKE_HOST, [
    '--bootstrap', boot, '--model', 'tiny', '--expert', `L0.${i}`, '--expert', 'L1.0',
    '--grpc', `127.0.0.1:${7100 + i}`, '--record-ttl', i === 1 ? '3' : '60',
  ]));
  children.push(...hosts);
  const hostIds = (await Promise.all(hosts.map((h) => h.ready))).map((e) => String(e.peerId));

  const first = await ls(boot);
  await t.annotate(`ls --json with 4 hosts took ${Math.round(first.ms)} ms (process start included)`);
  assert.equal(first.listing.model, 'tiny');
  assert.deepEqual(grpcsOf(first.listing), ['127.0.0.1:7100', '127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103']);
  assert.deepEqual(first.listing.experts['L1.0'].map((r) => r.peerId).sort(), [...hostIds].sort());
  assert.deepEqual(first.listing.experts['L0.2'].map((r) => r.grpc), ['127.0.0.1:7102']);
  for (const r of first.listing.experts['L1.0']) {
    assert.equal(r.state, 'ONLINE');
    assert.equal(typeof r.load, 'number');
    assert.equal(typeof r.throughput, 'number');
  }

  // SIGTERM: the host puts an OFFLINE record before it exits, so the very first listing after its exit
  // leaves it out, though its last ONLINE record had 60 s to live. (How long that takes is a figure:
  // 2-5.5 s here, most of it the ls process starting, on a machine busy with the rest of the suite.)
  const termAt = performance.now();
  hosts[0].proc.kill('SIGTERM');
  assert.equal(await hosts[0].exited, 0);
  const afterTerm = await ls(boot);
  await t.annotate(`SIGTERMed host gone from ls ${Math.round(performance.now() - termAt)} ms after SIGTERM`);
  assert.deepEqual(grpcsOf(afterTerm.listing), ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103']);

  // SIGKILL: no OFFLINE record; its last record expires at most 3 s after the kill.
  const killAt = Date.now();
  hosts[1].proc.kill('SIGKILL');
  await hosts[1].exited;
  // Its record outlives it until expiry: ls keeps listing it until then, then never again.
  const afterKill = await waitFor('the SIGKILLed host to leave ls', async () => {
    const r = await ls(boot);
    return grpcsOf(r.listing).includes('127.0.0.1:7101') ? undefined : r;
  }, { timeoutMs: 20_000, intervalMs: 250 });
  const goneMs = Date.now() - killAt;
  assert.deepEqual(grpcsOf(afterKill.listing), ['127.0.0.1:7102', '127.0.0.1:7103']);
  await t.annotate(`SIGKILLed host gone from ls ${goneMs} ms after SIGKILL (TTL 3 s)`);

  // SIGTERM stops the DHT node with exit 0; the same key file gives the same peer id again.
  dht.proc.kill('SIGTERM');
  assert.equal(await dht.exited, 0);
  const again = startChild(CLI, ['dht', '--key-file', keyFile]);
  children.push(again);
  assert.equal((await again.ready).peerId, ready.peerId);
  again.proc.kill('SIGINT');
  assert.equal(await again.exited, 0);
});

test('ls without any bootstrap peer fails with a clear message', async () => {
  const r = await runToEnd(CLI, ['ls', '--json'], 30_000);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--bootstrap/);
});

test('ls that reaches no DHT peer says so and exits 1, instead of listing no hosts', async () => {
  // Nothing listens on port 1: the bootstrap dial is refused, and no search can answer.
  const unreachable = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQCHC5MvQ8q4anKSmhqgPddug3SyxLLnRbJQJrGCSm8X1';
  const r = await runToEnd(CLI, ['ls', '--bootstrap', unreachable, '--timeout', '1'], 30_000);
  assert.equal(r.code, 1, r.stderr.slice(-2000));
  assert.equal(r.stdout, '', 'no listing');
  assert.match(r.stderr, /swarmpath ls: no DHT search answered within 1 s \(no connection: \/ip4\/127\.0\.0\.1\/tcp\/1\/p2p\/12D3KooW\w+ did not answer, unreachable or too busy\)/);
});

test('dht with fewer connections than kad-dht keeps alive fails with a clear message', async () => {
  const r = await runToEnd(CLI, ['dht', '--dht-max-connections', '5'], 30_000);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--dht-max-connections/);
});
