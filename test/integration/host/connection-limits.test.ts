/**
 * Connection and Info limits of a real host process against raw gRPC peers on the wire (each raw
 * client on a TCP connection of its own, raw-peer.ts):
 * (a) connections past --max-connections are closed at once, unanswered, logged and counted
 *     (swarmpath_host_grpc_connections_refused_total); once one closes, a new connection is served;
 * (b) connections of one network address past --peer-max-connections are closed, while another
 *     peer is served: the host listens on every interface and the peer connects through this
 *     machine's non-loopback address, which peer-key.ts counts by address (on loopback every
 *     connection is a peer of its own);
 * (c) Info past --peer-info-rate answers RESOURCE_EXHAUSTED naming the flag, other peers are still
 *     answered, and the peer is answered again once its bucket refills.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { synthFixture } from '../../helpers/synth-fixture.ts';
import { parsePrometheusText, sampleValue } from '../../unit/telemetry/prometheus-text.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { spawnHost, type HostProcess } from './spawn-host.ts';
import { rawPeer, unary, type RawClient } from './raw-peer.ts';

const hosts: HostProcess[] = [];
const clients: RawClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  for (const h of hosts) assert.equal(await h.stop(), 0);
});
const peer = (address: string): RawClient => { const c = rawPeer(address); clients.push(c); return c; };
const info = (c: RawClient) => unary(c, 'Info', {}).then(() => 'ok', (e: grpc.ServiceError) => `${grpc.status[e.code]}: ${e.details}`);

test('(a) connections past --max-connections are closed at once, then served once one closes', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--max-connections', '3', '--metrics-listen', '127.0.0.1:0']);
  hosts.push(host);
  const metricsUrl = String((host.ready as unknown as { metrics: string }).metrics);
  const three = [peer(host.ready.grpc), peer(host.ready.grpc), peer(host.ready.grpc)];
  for (const c of three) assert.equal(await info(c), 'ok');
  // A plain socket (a grpc-js channel, refused, redials in the background and would take the slot freed below).
  assert.deepEqual(await rawConnection(host.ready.grpc), { closedByHost: true, bytes: 0 });
  await waitFor('the refusal in the host log', () => host.stderr().split('\n').some((l) => l.includes('"msg":"connection refused"') && l.includes('host limit: 3 of 3 connections in use (--max-connections)')));
  // The metrics (sampled every second; the scrape is a plain HTTP connection, not a gRPC one).
  const metrics = async () => parsePrometheusText(await (await fetch(metricsUrl)).text());
  await waitFor('the refusal in the metrics', async () => {
    const m = await metrics();
    return sampleValue(m, 'swarmpath_host_grpc_connections_refused_total') === 1 && sampleValue(m, 'swarmpath_host_grpc_connections') === 3;
  }, { intervalMs: 200 });
  three[0].close();
  const fifth = peer(host.ready.grpc);
  assert.equal(await waitFor('a new connection once one closed', async () => (await info(fifth)) === 'ok', { intervalMs: 100 }), true);
  for (const c of three.slice(1)) assert.equal(await info(c), 'ok', 'held connections are untouched');
});

/** Opens a TCP connection to `address` and writes the HTTP/2 preface; resolves how it ended (within 5 s). */
function rawConnection(address: string): Promise<{ closedByHost: boolean; bytes: number }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve) => {
    let bytes = 0;
    const s = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) }, () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    const t = setTimeout(() => { s.destroy(); resolve({ closedByHost: false, bytes }); }, 5000);
    s.on('data', (b) => { bytes += b.length; });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(t); resolve({ closedByHost: true, bytes }); });
  });
}

/** This machine's first non-loopback IPv4 address. */
function externalIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this test needs a non-loopback IPv4 address on this machine (os.networkInterfaces() has none)');
}

test('(b) one address past --peer-max-connections is refused while another peer is served', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--grpc-listen', '0.0.0.0:0', '--peer-max-connections', '2']);
  hosts.push(host);
  const port = host.ready.grpc.split(':').at(-1);
  const addr = externalIPv4();
  const mine = [peer(`${addr}:${port}`), peer(`${addr}:${port}`)];
  for (const c of mine) assert.equal(await info(c), 'ok');
  assert.match(await info(peer(`${addr}:${port}`)), /^UNAVAILABLE/, 'a third connection from the same address');
  assert.deepEqual(await rawConnection(`${addr}:${port}`), { closedByHost: true, bytes: 0 });
  await waitFor('the refusal in the host log', () => new RegExp(`"peer":"${addr.replaceAll('.', '\\.')}".*per-peer limit: ${addr.replaceAll('.', '\\.')} already holds 2 of its 2 connections \\(--peer-max-connections\\)`).test(host.stderr()));
  assert.equal(await info(peer(`127.0.0.1:${port}`)), 'ok', 'another peer (a loopback connection) is served');
  for (const c of mine) assert.equal(await info(c), 'ok');
});

test('(c) Info past --peer-info-rate is refused with RESOURCE_EXHAUSTED; other peers are answered; the peer is again later', async () => {
  const host = await spawnHost(['--model', await synthFixture(), '--expert', 'L0.0', '--no-dht', '--peer-info-rate', '5']);
  hosts.push(host);
  const hammer = peer(host.ready.grpc);
  const answers = await Promise.all(Array.from({ length: 40 }, () => info(hammer)));
  const ok = answers.filter((a) => a === 'ok').length;
  // A burst of 10 (two seconds' worth), plus what the peer earns while the 40 calls arrive.
  assert.ok(ok >= 10 && ok <= 15, `${ok} of 40 answered: ${answers.join(' | ')}`);
  const refused = answers.filter((a) => a !== 'ok');
  for (const r of refused) assert.match(r, /^RESOURCE_EXHAUSTED: per-peer limit: 127\.0\.0\.1:\d+ called Info more than 5 times a second \(--peer-info-rate\)/);
  assert.equal(await info(peer(host.ready.grpc)), 'ok', 'another peer is answered');
  assert.equal(await waitFor('the hammering peer answered again', async () => (await info(hammer)) === 'ok', { intervalMs: 100 }), true);
});
