/**
 * The Discovery contract, one suite run against the in-memory fake (test/unit/dht/fake-discovery.test.ts)
 * and against the real DHT discovery over libp2p (test/integration/dht/discovery-contract.test.ts).
 * A harness gives a Discovery plus a way to make hosts appear, change, go offline and lapse.
 */
import { describe, test, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { Discovery, HostRecord } from '../../../shared/transport-types.ts';

export interface HostFields { model: string; experts: string[]; grpc: string }

export interface ContractHost {
  readonly peerId: string;
  /** Republishes with these fields changed (awaited until published). */
  update(fields: Partial<HostFields> & { state?: HostRecord['state'] }): Promise<void>;
  /** Publishes an OFFLINE record (as a host does on SIGTERM). */
  goOffline(): Promise<void>;
  /** Stops refreshing and resolves once the host's last record has expired. */
  lapse(): Promise<void>;
}

export interface DiscoveryHarness {
  discovery: Discovery;
  /** A host announcing `fields` with records of `ttlS` seconds. */
  addHost(fields: HostFields, ttlS: number): Promise<ContractHost>;
  close(): Promise<void>;
}

const fresh = { fresh: true } as const;
const grpcs = (rs: HostRecord[]) => rs.map((r) => r.grpc).sort();

export function discoveryContract(name: string, makeHarness: () => Promise<DiscoveryHarness>, opts: { ttlS: number }): void {
  describe(`Discovery contract: ${name}`, () => {
    let h: DiscoveryHarness;
    beforeAll(async () => { h = await makeHarness(); });
    afterAll(async () => { await h?.close(); });

    test('finds exactly the live hosts of an expert, and every host through allHosts', async () => {
      const a = await h.addHost({ model: 'mA', experts: ['L0.0', 'L1.0'], grpc: '127.0.0.1:6001' }, 60);
      const b = await h.addHost({ model: 'mA', experts: ['L0.0'], grpc: '127.0.0.1:6002' }, 60);
      const c = await h.addHost({ model: 'mB', experts: ['L0.0'], grpc: '127.0.0.1:6003' }, 60);
      assert.deepEqual(grpcs(await h.discovery.replicas('mA', 'L0.0', fresh)), ['127.0.0.1:6001', '127.0.0.1:6002']);
      assert.deepEqual(grpcs(await h.discovery.replicas('mA', 'L1.0', fresh)), ['127.0.0.1:6001']);
      assert.deepEqual(grpcs(await h.discovery.replicas('mB', 'L0.0', fresh)), ['127.0.0.1:6003']);
      assert.deepEqual(await h.discovery.replicas('mA', 'L9.9', fresh), []);
      const all = await h.discovery.allHosts(fresh);
      for (const x of [a, b, c]) assert.ok(all.some((r) => r.peerId === x.peerId), `allHosts lacks ${x.peerId}`);
      const rec = (await h.discovery.replicas('mA', 'L1.0', fresh))[0];
      assert.equal(rec.peerId, a.peerId);
      assert.equal(rec.state, 'ONLINE');
      assert.deepEqual([...rec.experts].sort(), ['L0.0', 'L1.0']);
      for (const x of [a, b, c]) await x.goOffline();
    });

    test('a host that goes OFFLINE or DRAINING is no longer returned', async () => {
      const a = await h.addHost({ model: 'mC', experts: ['L0.1'], grpc: '127.0.0.1:6011' }, 60);
      const b = await h.addHost({ model: 'mC', experts: ['L0.1'], grpc: '127.0.0.1:6012' }, 60);
      assert.equal((await h.discovery.replicas('mC', 'L0.1', fresh)).length, 2);
      await a.goOffline();
      assert.deepEqual(grpcs(await h.discovery.replicas('mC', 'L0.1', fresh)), ['127.0.0.1:6012']);
      assert.ok(!(await h.discovery.allHosts(fresh)).some((r) => r.peerId === a.peerId));
      await b.update({ state: 'DRAINING' });
      assert.deepEqual(await h.discovery.replicas('mC', 'L0.1', fresh), []);
      await b.goOffline();
    });

    test('a host that stops refreshing disappears once its record expires', async () => {
      const a = await h.addHost({ model: 'mD', experts: ['L0.2'], grpc: '127.0.0.1:6021' }, opts.ttlS);
      assert.equal((await h.discovery.replicas('mD', 'L0.2', fresh)).length, 1);
      await a.lapse();
      assert.deepEqual(await h.discovery.replicas('mD', 'L0.2', fresh), []);
      assert.ok(!(await h.discovery.allHosts(fresh)).some((r) => r.peerId === a.peerId));
    });

    test('a host that changes experts is listed under the new one only', async () => {
      const a = await h.addHost({ model: 'mE', experts: ['L0.0'], grpc: '127.0.0.1:6031' }, 60);
      assert.equal((await h.discovery.replicas('mE', 'L0.0', fresh)).length, 1);
      await a.update({ experts: ['L0.1'] });
      assert.deepEqual(await h.discovery.replicas('mE', 'L0.0', fresh), []);
      assert.deepEqual(grpcs(await h.discovery.replicas('mE', 'L0.1', fresh)), ['127.0.0.1:6031']);
      await a.update({ grpc: '127.0.0.1:6032' });
      assert.deepEqual(grpcs(await h.discovery.replicas('mE', 'L0.1', fresh)), ['127.0.0.1:6032']);
      await a.goOffline();
    });

    test('learn: a host shares its own live record; an OFFLINE one and a peer that cannot be reached add nothing', async () => {
      assert.ok(h.discovery.learn, 'the discovery can learn from peers');
      const a = await h.addHost({ model: 'mL', experts: ['L7.0'], grpc: '127.0.0.1:6201' }, 60);
      const off = await h.addHost({ model: 'mL', experts: ['L7.1'], grpc: '127.0.0.1:6202' }, 60);
      await off.goOffline();
      const fromA = await h.discovery.learn([a.peerId]);
      assert.ok(fromA.some((r) => r.peerId === a.peerId && r.experts.includes('L7.0') && r.state === 'ONLINE'), 'a shares its record');
      assert.ok(fromA.every((r) => r.state === 'ONLINE'));
      assert.equal((await h.discovery.learn([off.peerId])).some((r) => r.peerId === off.peerId), false, 'not an OFFLINE record');
      const nobody = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
      assert.deepEqual(await h.discovery.learn([nobody]), []);
    });

    test('an aborted signal rejects the call', async () => {
      const ac = new AbortController();
      ac.abort(new Error('caller gave up'));
      await assert.rejects(h.discovery.replicas('mA', 'L0.0', { signal: ac.signal, fresh: true }), /caller gave up/);
      await assert.rejects(h.discovery.allHosts({ signal: ac.signal }), /caller gave up/);
    });
  });
}
