/**
 * Which host records belong to hosts that are alive right now. A SIGKILLed host's record stays in
 * the DHT until it expires (the record TTL, 30 s by default), far longer than a rebalancing check
 * may trust it: each check asks every recorded host for Info over gRPC with a short deadline, and
 * keeps those that answer ONLINE as the peer the record names (a new process on a reused port is a
 * different peer). A host that is only slow to answer (deadline exceeded: an overloaded machine, a
 * long pause) is kept: slow is not dead, and a host that stays unresponsive stops refreshing its
 * record, which then expires. A refused connection (a killed process) drops it at once. Liveness
 * from our own calls, as the design notes ask.
 */
import { SwarmpathError } from '../../shared/errors.ts';
import type { HostInfo, HostRecord } from '../../shared/transport-types.ts';

/** The Info call the probe makes, per gRPC address. */
export interface InfoSource {
  info(address: string, deadlineMs: number, signal?: AbortSignal): Promise<HostInfo>;
}

export interface LivenessProbe {
  /** The records whose hosts answered in time (self is kept without a call). */
  filter(records: readonly HostRecord[], selfPeerId: string, signal?: AbortSignal): Promise<HostRecord[]>;
}

export interface LivenessProbeInit {
  /** Deadline of one Info call, ms (default 2000). */
  timeoutMs?: number;
}

export function createLivenessProbe(init: LivenessProbeInit, c: { source: InfoSource; clock?: () => number }): LivenessProbe {
  const timeoutMs = init.timeoutMs ?? 2000;
  const clock = c.clock ?? Date.now;
  return {
    async filter(records, selfPeerId, signal) {
      const verdicts = await Promise.all(records.map(async (r) => {
        if (r.peerId === selfPeerId) return true;
        try {
          const info = await c.source.info(r.grpc, clock() + timeoutMs, signal);
          return info.state === 'ONLINE' && (info.peerId === '' || info.peerId === r.peerId);
        } catch (err) {
          return err instanceof SwarmpathError && err.code === 'DEADLINE_EXCEEDED';
        }
      }));
      return records.filter((_, i) => verdicts[i]);
    },
  };
}
