/**
 * Integrity of real traffic (SECURITY.md): a host can answer its expert's manifest probe right and
 * return garbage on Session, so the router recomputes some of the steps a host served on a second
 * replica and compares. Which steps: every step of a replica until it has passed `firstChecks` cross-
 * checks (a newcomer is checked on its first work), then each step with probability `fraction`.
 * How: the checker gets the whole sequence so far as one stateless Forward ([1, N, D]: the stage's
 * recorded inputs plus this step's), and its last T rows must agree with what the primary sent.
 * On disagreement a third replica decides; whichever of the two it contradicts is distrusted, by
 * peer id and by address, and the client gets the output the majority computed. Without a third
 * replica nobody is blamed (the result is `inconclusive`, logged and counted) and the primary's
 * output stands: two replicas cannot tell a liar from an honest host that was lied about.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../shared/log.ts';
import type { F32 } from '../shared/runtime-types.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import type { AcquireOpts, Replica } from './replica-pool-types.ts';

export interface CrossCheckInit {
  /** Share of steps recomputed once a replica has passed its first checks, in [0, 1]. */
  fraction: number;
  /** Steps of a replica checked before sampling starts (default 1). */
  firstChecks?: number;
  /** Relative tolerance of the comparison (default 0.02: float16 on the wire stays well inside). */
  tolerance?: number;
  /** Deadline of one check call, ms (default 5000). */
  timeoutMs?: number;
  wireDtype?: WireDtype;
}

export interface CrossCheckComponents {
  /** A replica of the expert other than `exclude` (rejects when none can be had soon). */
  acquire(expertId: string, opts: AcquireOpts): Promise<Replica>;
  /** Distrusts a host (peer id and address) for every expert. */
  distrust(peerId: string, address: string, reason: string): void;
  random: () => number;
  clock: () => number;
  log: Logger;
  onResult?(expertId: string, result: CrossCheckResult['type']): void;
}

export type CrossCheckResult =
  | { type: 'ok' }
  /** The primary was outvoted and is distrusted: `honest` is the step's output to use. */
  | { type: 'primary-wrong'; honest: F32 }
  /** The first checker was outvoted (and distrusted); the primary's output stands. */
  | { type: 'checker-wrong' }
  | { type: 'inconclusive' }
  /** No other replica could be had in time: nothing was compared. */
  | { type: 'skipped' };

export interface CrossChecker {
  /** Whether this step of the replica should be recomputed elsewhere. */
  due(expertId: string, peerId: string): boolean;
  /**
   * Recomputes `sequence` ([1, N, D], the full input so far) on other replicas and compares its last
   * T rows with `out` ([1, T, D]) from `primary`. Never rejects (a failed check call is `skipped`).
   */
  check(expertId: string, primary: Replica, sequence: F32, out: F32, signal?: AbortSignal): Promise<CrossCheckResult>;
}

/**
 * Whether two outputs agree: every element within `tol` x (|want| + RMS(want)); a non-finite value
 * never agrees.
 */
export function outputsAgree(got: Float32Array, want: Float32Array, tol: number): boolean {
  if (got.length !== want.length) return false;
  let ss = 0;
  for (let i = 0; i < want.length; i++) ss += want[i] * want[i];
  const rms = Math.sqrt(ss / Math.max(1, want.length));
  if (!Number.isFinite(rms)) return false;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= tol * (Math.abs(want[i]) + rms))) return false;
  }
  return true;
}

/** Whether every value is finite (a host's NaN or Inf is an integrity failure, never sampled). */
export function allFinite(t: F32): boolean {
  const d = t.data;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) return false;
  return true;
}

/** Longest wait for a checking replica, ms. */
const ACQUIRE_WAIT_MS = 500;
/** After a check found no second replica of an expert, its steps are not checked for this long, ms. */
const NO_CHECKER_BACKOFF_MS = 30_000;

/** The last T rows of [1, N, D]. */
function tail(t: F32, T: number): F32 {
  const N = t.dims[1];
  const D = t.dims[2];
  return { data: t.data.subarray((N - T) * D, N * D), dims: [1, T, D] };
}

export function createCrossChecker(init: CrossCheckInit, c: CrossCheckComponents): CrossChecker {
  const firstChecks = init.firstChecks ?? 1;
  const tol = init.tolerance ?? 0.02;
  const timeoutMs = init.timeoutMs ?? 5000;
  /** Passed checks per `expert peer` (the least recently used dropped past the cap). */
  const passed = new LRUCache<string, number>({ max: 16_384 });
  /** Experts whose last check found no other replica: no check is tried for a while (a lone replica is not slowed down). */
  const noChecker = new LRUCache<string, true>({ max: 4096, ttl: NO_CHECKER_BACKOFF_MS, ttlResolution: 0, perf: { now: c.clock } });

  const recompute = async (expertId: string, exclude: Set<string>, sequence: F32, T: number, signal?: AbortSignal) => {
    // A check never holds a request up waiting for a replica: one is there now or the check is skipped.
    const r = await c.acquire(expertId, { exclude, deadlineMs: c.clock() + ACQUIRE_WAIT_MS, signal, cost: sequence.dims[1] });
    const deadlineMs = c.clock() + timeoutMs;
    if (exclude.has(r.peerId)) throw new Error('only excluded replicas are left');
    const out = await r.client.forward(expertId, sequence, { deadlineMs, signal, wireDtype: init.wireDtype });
    if (out.dims[1] !== sequence.dims[1]) throw new Error(`checker returned ${out.dims[1]} positions for ${sequence.dims[1]}`);
    return { replica: r, out: tail(out, T) };
  };

  return {
    due(expertId, peerId) {
      if (noChecker.has(expertId)) return false;
      if ((passed.get(`${expertId} ${peerId}`) ?? 0) < firstChecks) return true;
      return init.fraction > 0 && c.random() < init.fraction;
    },

    async check(expertId, primary, sequence, out, signal) {
      const T = out.dims[1];
      const report = (r: CrossCheckResult): CrossCheckResult => { c.onResult?.(expertId, r.type); return r; };
      let first;
      try {
        first = await recompute(expertId, new Set([primary.peerId]), sequence, T, signal);
      } catch (err) {
        c.log.debug('cross-check skipped: no second replica answered', { expert: expertId, host: primary.peerId, err });
        noChecker.set(expertId, true);
        return report({ type: 'skipped' });
      }
      noChecker.delete(expertId);
      if (outputsAgree(out.data, first.out.data, tol)) {
        const key = `${expertId} ${primary.peerId}`;
        passed.set(key, (passed.get(key) ?? 0) + 1);
        return report({ type: 'ok' });
      }
      let third;
      try {
        third = await recompute(expertId, new Set([primary.peerId, first.replica.peerId]), sequence, T, signal);
      } catch {
        c.log.warn('cross-check mismatch and no third replica to decide: nobody blamed', {
          expert: expertId, host: primary.peerId, checker: first.replica.peerId,
        });
        return report({ type: 'inconclusive' });
      }
      const primaryOk = outputsAgree(out.data, third.out.data, tol);
      const checkerOk = outputsAgree(first.out.data, third.out.data, tol);
      if (checkerOk && !primaryOk) {
        c.distrust(primary.peerId, primary.grpc, `its ${expertId} output disagreed with two other replicas`);
        return report({ type: 'primary-wrong', honest: first.out });
      }
      if (primaryOk && !checkerOk) {
        c.distrust(first.replica.peerId, first.replica.grpc, `its ${expertId} output disagreed with two other replicas`);
        return report({ type: 'checker-wrong' });
      }
      c.log.warn('cross-check: three replicas disagree; nobody blamed', { expert: expertId, hosts: [primary.peerId, first.replica.peerId, third.replica.peerId] });
      return report({ type: 'inconclusive' });
    },
  };
}
