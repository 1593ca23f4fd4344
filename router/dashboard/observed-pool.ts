/**
 * A ReplicaPool that also reports the outcome of every stage call (`succeeded`, `failed`) to
 * `onCall`: the dashboard's per-replica health (a replica whose latest call failed shows as
 * FAILING). Everything else is `inner`'s own (createReplicaPool returns a plain object whose
 * methods use no `this`, so its members are copied as they are). An `onCall` that throws is ignored.
 */
import type { ReplicaPool } from '../replica-pool-types.ts';

export function observedPool(inner: ReplicaPool, onCall: (expert: string, peerId: string, errorCode?: string) => void): ReplicaPool {
  const report = (expert: string, peerId: string, errorCode?: string): void => {
    try { onCall(expert, peerId, errorCode); } catch { /* the dashboard's bookkeeping must not fail a call */ }
  };
  return {
    ...inner,
    succeeded(expertId, peerId, work, seconds) {
      inner.succeeded(expertId, peerId, work, seconds);
      report(expertId, peerId);
    },
    failed(expertId, peerId, err, work, seconds) {
      const outcome = inner.failed(expertId, peerId, err, work, seconds);
      report(expertId, peerId, err.code);
      return outcome;
    },
  };
}
