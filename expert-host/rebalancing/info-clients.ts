/**
 * An InfoSource over real gRPC clients, one channel per address, kept while in use and closed
 * after `idleMs` without a call or at once after a failed one (dead hosts come and go during churn).
 */
import { createExpertClient, type GrpcExpertClient } from '../../shared/grpc/client.ts';
import type { HostInfo } from '../../shared/transport-types.ts';
import type { InfoSource } from './liveness-probe.ts';

export interface InfoClients extends InfoSource {
  close(): void;
}

export function createInfoClients(init: { idleMs?: number } = {}): InfoClients {
  const idleMs = init.idleMs ?? 60_000;
  const clients = new Map<string, { client: GrpcExpertClient; usedAt: number }>();
  const sweep = () => {
    const now = Date.now();
    for (const [addr, e] of clients) if (now - e.usedAt > idleMs) { e.client.close(); clients.delete(addr); }
  };
  return {
    async info(address: string, deadlineMs: number, signal?: AbortSignal): Promise<HostInfo> {
      sweep();
      let e = clients.get(address);
      if (!e) { e = { client: createExpertClient(address), usedAt: Date.now() }; clients.set(address, e); }
      e.usedAt = Date.now();
      try {
        return await e.client.info({ deadlineMs, signal });
      } catch (err) {
        // A fresh channel next time: grpc-js backs off reconnecting (up to minutes), and a host
        // restarted on the same port must be seen at the next check.
        e.client.close();
        if (clients.get(address) === e) clients.delete(address);
        throw err;
      }
    },
    close() {
      for (const e of clients.values()) e.client.close();
      clients.clear();
    },
  };
}
