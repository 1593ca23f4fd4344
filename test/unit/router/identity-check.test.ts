import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { identityChecks } from '../../../router/identity-check.ts';
import { signInfoNonce } from '../../../shared/identity.ts';
import { UnavailableError } from '../../../shared/errors.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { ExpertClient, HostInfo } from '../../../shared/transport-types.ts';

async function keyed(): Promise<{ key: PrivateKey; peerId: string }> {
  const key = await generateKeyPair('Ed25519');
  return { key, peerId: peerIdFromPrivateKey(key).toString() };
}

/** A host endpoint answering Info as `as`, signing with `key` (or not at all, or failing). */
function endpoint(as: string, key: PrivateKey | undefined, o: { fail?: boolean } = {}) {
  const calls = { n: 0 };
  const client = {
    address: 'x',
    async info(opts: { nonce?: Uint8Array }): Promise<HostInfo> {
      calls.n++;
      if (o.fail) throw new UnavailableError('reset');
      const sig = key && opts.nonce ? await signInfoNonce((d) => key.sign(d), opts.nonce) : undefined;
      return {
        peerId: as, version: 't', model: 'm', experts: [], queueDepth: 0, throughput: 0, kvCapacityBytes: 0, kvFreeBytes: 0,
        state: 'ONLINE', device: 'cpu', maxContext: 1, ...(sig ? { identitySignature: sig } : {}),
      };
    },
  } as unknown as ExpertClient;
  return { client, calls };
}

describe('identity checks', () => {
  it("passes an endpoint that signs the nonce with the record's key, once per (peer, address)", async () => {
    const h = await keyed();
    const ids = identityChecks({}, { clock: () => 0, log: silentLogger });
    const e = endpoint(h.peerId, h.key);
    expect(await ids.check(h.peerId, '1.2.3.4:5', e.client)).toEqual({ type: 'ok' });
    expect(await ids.check(h.peerId, '1.2.3.4:5', e.client)).toEqual({ type: 'ok' });
    expect(e.calls.n, 'cached').toBe(1);
  });

  it("refuses a record naming another host's endpoint (sybil), one that claims the id without the key, and one that cannot sign", async () => {
    const honest = await keyed();
    const sybil = await keyed();
    const ids = identityChecks({}, { clock: () => 0, log: silentLogger });
    // The sybil's record points at the honest host: it answers as itself, signing with its own key.
    expect((await ids.check(sybil.peerId, 'honest:1', endpoint(honest.peerId, honest.key).client)).type).toBe('impostor');
    // A relay that claims the sybil's id but holds the honest key.
    expect((await ids.check(sybil.peerId, 'relay:1', endpoint(sybil.peerId, honest.key).client)).type).toBe('impostor');
    expect((await ids.check(sybil.peerId, 'nosig:1', endpoint(sybil.peerId, undefined).client)).type).toBe('impostor');
  });

  it('a failed call is an error (a strike), not a verdict on identity, and is asked again next time', async () => {
    const h = await keyed();
    const ids = identityChecks({}, { clock: () => 0, log: silentLogger });
    const flaky = endpoint(h.peerId, h.key, { fail: true });
    expect((await ids.check(h.peerId, 'a:1', flaky.client)).type).toBe('error');
    expect((await ids.check(h.peerId, 'a:1', endpoint(h.peerId, h.key).client)).type).toBe('ok');
  });
});
