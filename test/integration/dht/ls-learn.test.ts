/**
 * `swarmpath ls` lists the hosts that the hosts it finds know of, not only those its searches name
 * (a search names at most 32 providers): a real DHT of in-process libp2p nodes, two hosts announcing
 * with the real announcer, each sharing (`/swarmpath/records/1.0.0`) the signed records of 40 other
 * hosts it knows, and the real `ls` command in its own process. A record that is not signed by the
 * host it names is not listed.
 */
import { afterAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createAnnouncer, type Announcer } from '../../../shared/dht/announcer.ts';
import { signHostRecord } from '../../../shared/dht/host-record.ts';
import { createSwarmNode, type SwarmNode } from '../../../shared/dht/node.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { CLI, runToEnd } from './processes.ts';

const running: SwarmNode[] = [];
const announcers: Announcer[] = [];
afterAll(async () => {
  await Promise.all(announcers.map((a) => a.stop().catch(() => {})));
  await Promise.all(running.map((n) => n.stop().catch(() => {})));
});

const KNOWN = 40;

const record = (peerId: string, i: number): HostRecord => ({
  peerId, seq: 1, expiresAt: Date.now() + 600_000, state: 'ONLINE', model: 'm', experts: [`L0.${i % 4}`], grpc: `127.0.0.1:${9000 + i}`,
  version: 't', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: false,
});

test('ls lists the hosts known to the hosts it finds, verified, beyond what its searches name', async () => {
  const boot = await createSwarmNode({ log: silentLogger });
  await boot.start();
  running.push(boot);
  // Records of 40 hosts that are not in this DHT (signed by their own keys), and one forged record.
  const keys = await Promise.all(Array.from({ length: KNOWN }, () => generateKeyPair('Ed25519')));
  const ids = keys.map((k) => peerIdFromPrivateKey(k).toString());
  const known = await Promise.all(keys.map((k, i) => signHostRecord(record(ids[i], i), k)));
  const forgedId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
  const forged = await signHostRecord(record(forgedId, 99), keys[0]);

  for (let h = 0; h < 2; h++) {
    const node = await createSwarmNode({ bootstrap: boot.multiaddrs(), log: silentLogger });
    await node.start();
    running.push(node);
    node.shareRecords(() => [...known, forged]);
    const announcer = createAnnouncer({
      ttlS: 600, record: { model: 'm', experts: ['L0.0'], grpc: `127.0.0.1:${8000 + h}`, version: 't', device: 'cpu', kvCapacityBytes: 1, kvFreeBytes: 1, queueDepth: 0, throughput: 0, auto: false },
    }, { node, log: silentLogger });
    announcers.push(announcer);
    await announcer.start();
  }

  const r = await runToEnd(CLI, ['ls', '--bootstrap', boot.multiaddrs()[0], '--json', '--timeout', '10'], 60_000);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const listing = JSON.parse(r.stdout) as { model: string; experts: Record<string, { peerId: string }[]> };
  const listed = new Set(Object.values(listing.experts).flat().map((x) => x.peerId));
  assert.equal(listing.model, 'm');
  assert.ok(ids.every((id) => listed.has(id)), `every shared host listed (${listed.size} listed)`);
  assert.ok(running.slice(1).every((n) => listed.has(n.peerId)), 'and the two hosts found by the search');
  assert.ok(!listed.has(forgedId), 'a record not signed by the host it names is not listed');
  assert.equal(listed.size, KNOWN + 2);
});
