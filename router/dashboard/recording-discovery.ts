/**
 * A Discovery that also hands the host records of every `replicas` result (hosts of the router's
 * model) to `onRecords`: the dashboard's host directory (devices, states, moves). Results pass
 * through unchanged; an `onRecords` that throws is ignored, so the dashboard never fails a lookup.
 */
import type { Discovery, HostRecord } from '../../shared/transport-types.ts';

export function recordingDiscovery(inner: Discovery, onRecords: (records: readonly HostRecord[]) => void): Discovery {
  const seen = (records: HostRecord[]): HostRecord[] => {
    try { onRecords(records); } catch { /* the dashboard's bookkeeping must not fail discovery */ }
    return records;
  };
  return {
    replicas: async (model, expertId, opts) => seen(await inner.replicas(model, expertId, opts)),
    allHosts: (opts) => inner.allHosts(opts),
    ...(inner.forget ? { forget: (peerId: string) => inner.forget?.(peerId) } : {}),
    ...(inner.learn ? { learn: async (peerIds: readonly string[], opts?: { signal?: AbortSignal }) => seen(await inner.learn!(peerIds, opts)) } : {}),
  };
}
