/**
 * An InfoSource over real gRPC clients: one channel per address in an LRU cache (at most `max`,
 * closed when evicted, after `idleMs` without a call, or at once after a failed call: dead hosts
 * come and go during churn, and grpc-js backs off reconnecting for up to minutes).
 */
import { LRUCache } from 'lru-cache';
import { createExpertClient, type GrpcExpertClient } from '../../shared/grpc/client.ts';
import type { HostInfo } from '../../shared/transport-types.ts';
import type { ReplicaVerifier } from '../../shared/model/probe-verifier.ts';
import type { InfoSource } from './swarm-view.ts';

export interface InfoClients extends InfoSource {
  close(): void;
}

export interface InfoClientsInit {
  /** Close a channel unused this long, ms (default 60000). */
  idleMs?: number;
  /** Channels kept at most (default 64). */
  max?: number;
  /** Called once per Info call made (control-plane accounting). */
  onCall?(): void;
  /** Opens a client (default: a real gRPC channel). */
  connect?(address: string): GrpcExpertClient;
  /** Runs an expert's manifest probe on a host (absent: holders are not verified). */
  verifier?: ReplicaVerifier;
}

export function createInfoClients(init: InfoClientsInit = {}): InfoClients {
  const connect = init.connect ?? createExpertClient;
  const clients = new LRUCache<string, GrpcExpertClient>({
    max: init.max ?? 64,
    ttl: init.idleMs ?? 60_000,
    updateAgeOnGet: true,
    ttlAutopurge: true,
    dispose: (client) => client.close(),
  });
  const clientFor = (address: string): GrpcExpertClient => {
    let client = clients.get(address);
    if (!client) {
      client = connect(address);
      clients.set(address, client);
    }
    return client;
  };
  const verifier = init.verifier;
  return {
    ...(verifier ? {
      async verify(address: string, expertId: string, signal?: AbortSignal): Promise<'ok' | 'mismatch'> {
        init.onCall?.();
        return (await verifier(expertId, clientFor(address), signal)).type;
      },
    } : {}),
    async info(address: string, deadlineMs: number, signal?: AbortSignal, nonce?: Uint8Array): Promise<HostInfo> {
      const client = clientFor(address);
      init.onCall?.();
      try {
        return await client.info({ deadlineMs, signal, nonce });
      } catch (err) {
        if (clients.peek(address) === client) clients.delete(address);
        throw err;
      }
    },
    close() { clients.clear(); },
  };
}
