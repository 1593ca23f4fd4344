/**
 * Which replicas the router trusts to compute their expert (the replica pool's probe bookkeeping).
 * A replica passes its expert's probe (shared/model/probe-verifier.ts) before its first work and is
 * checked again at random times after (on its first use once `verifyEveryMs` x U(0.5, 1.5) has
 * passed). A replica whose output fails the probe is distrusted for `distrustMs`, whatever it
 * announces meanwhile, then probed again before any work. One probe per replica at a time, shared by
 * whoever asks (a request, or the pool's background check of a newly discovered replica).
 * Without a `verify` component every replica counts as verified and nothing is probed.
 */
import { LRUCache } from 'lru-cache';
import { SwarmpathError, UnavailableError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { ExpertClient } from '../shared/transport-types.ts';
import type { ReplicaVerifier, VerifyResult } from '../shared/model/probe-verifier.ts';
import { untilAborted } from './sleep.ts';

export interface VerificationInit {
  /** Mean interval between checks of a replica's probe, ms (default 600000). */
  verifyEveryMs?: number;
  /** How long a replica that failed its probe gets no work, ms (default 600000). */
  distrustMs?: number;
}

export interface VerificationComponents {
  verify?: ReplicaVerifier;
  clock: () => number;
  /** Uniform [0, 1) draws for the re-check intervals. */
  random: () => number;
  log: Logger;
  /** Each probe's outcome: 'ok', 'mismatch', or 'error' (the call failed). */
  onVerified?(expertId: string, peerId: string, result: 'ok' | 'mismatch' | 'error'): void;
  /** A probe call failed: strike the replica like any failed call. */
  onProbeError(expertId: string, peerId: string, err: SwarmpathError): void;
  /** The replica was just distrusted (its expert's membership should drop it now). */
  onDistrusted(expertId: string, now: number): void;
}

export interface ReplicaVerification {
  /** Whether the replica may get work: its probe passed recently, or passes now (false: distrusted or the call failed). */
  check(expertId: string, peerId: string, client: ExpertClient, signal?: AbortSignal): Promise<boolean>;
  /** Starts a probe in the background when the replica never passed one (or failed its last) and none is running. */
  checkInBackground(expertId: string, peerId: string, client: ExpertClient): void;
  /** Whether the replica passed its latest probe (a re-check that is due does not undo it); true without `verify`. */
  passed(expertId: string, peerId: string): boolean;
  /**
   * Whether the replica failed its probe less than `distrustMs` ago, or its host (by peer id, or by
   * `address` when given) was caught computing something else (`distrustHost`).
   */
  distrusted(expertId: string, peerId: string, now: number, address?: string): boolean;
  /** No work for `distrustMs` to this peer, nor (when given) to any peer announcing this address, for any expert. */
  distrustHost(peerId: string, address: string | undefined, now: number): void;
  /** False while the replica is distrusted; free while nobody is. */
  trusted(expertId: string, peerId: string): boolean;
}

export function replicaVerification(init: VerificationInit, c: VerificationComponents): ReplicaVerification {
  const verifyEveryMs = init.verifyEveryMs ?? 600_000;
  const distrustMs = init.distrustMs ?? 600_000;
  /** `expert peer` → until when its last passed probe holds, ms (absent: never passed, or failed since). */
  const verifiedUntil = new Map<string, number>();
  /** Probes in flight, shared by every caller that wants the replica. */
  const verifying = new Map<string, Promise<boolean>>();
  /**
   * Until when (ms) no work goes to: `expert peer` (failed its probe), `peer <id>` and `addr <host:port>`
   * (caught by a cross-check: a new peer id at the same address gains nothing).
   */
  const distrustedUntil = new LRUCache<string, number>({ max: 65_536 });

  const isOn = (key: string, now: number): boolean => {
    const until = distrustedUntil.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    distrustedUntil.delete(key);
    return false;
  };
  const distrusted = (expertId: string, peerId: string, now: number, address?: string): boolean =>
    isOn(`${expertId} ${peerId}`, now) || isOn(`peer ${peerId}`, now) || (address !== undefined && isOn(`addr ${address}`, now));

  /** One probe call and its consequences; never rejects. */
  const probe = async (verify: ReplicaVerifier, expertId: string, peerId: string, cl: ExpertClient): Promise<boolean> => {
    const key = `${expertId} ${peerId}`;
    let r: VerifyResult;
    try {
      r = await verify(expertId, cl);
    } catch (err) {
      c.onVerified?.(expertId, peerId, 'error');
      const e = err instanceof SwarmpathError ? err : new UnavailableError(`probe of ${expertId} failed: ${(err as Error)?.message ?? err}`);
      c.log.debug('probe call failed', { expert: expertId, host: peerId, error: e.message });
      c.onProbeError(expertId, peerId, e);
      return false;
    }
    c.onVerified?.(expertId, peerId, r.type);
    const now = c.clock();
    if (r.type === 'ok') {
      verifiedUntil.set(key, now + verifyEveryMs * (0.5 + c.random()));
      return true;
    }
    verifiedUntil.delete(key);
    distrustedUntil.set(key, now + distrustMs);
    c.log.warn(`host ${peerId} does not compute expert ${expertId} (its output fails the manifest probe); ` +
      `no work goes to it for ${Math.round(distrustMs / 1000)} s`, { got: r.got, want: r.want });
    c.onDistrusted(expertId, now);
    return false;
  };

  /** The running probe of the replica, or a new one. */
  const shared = (verify: ReplicaVerifier, expertId: string, peerId: string, cl: ExpertClient): Promise<boolean> => {
    const key = `${expertId} ${peerId}`;
    let p = verifying.get(key);
    if (!p) {
      p = probe(verify, expertId, peerId, cl).finally(() => verifying.delete(key));
      verifying.set(key, p);
    }
    return p;
  };

  return {
    async check(expertId, peerId, cl, signal) {
      if (!c.verify) return true;
      if ((verifiedUntil.get(`${expertId} ${peerId}`) ?? -Infinity) > c.clock()) return true;
      return untilAborted(shared(c.verify, expertId, peerId, cl), signal);
    },
    checkInBackground(expertId, peerId, cl) {
      const key = `${expertId} ${peerId}`;
      if (!c.verify || verifiedUntil.has(key) || verifying.has(key)) return;
      void shared(c.verify, expertId, peerId, cl);
    },
    passed: (expertId, peerId) => !c.verify || verifiedUntil.has(`${expertId} ${peerId}`),
    distrusted,
    distrustHost(peerId, address, now) {
      distrustedUntil.set(`peer ${peerId}`, now + distrustMs);
      if (address !== undefined) distrustedUntil.set(`addr ${address}`, now + distrustMs);
      for (const key of [...verifiedUntil.keys()]) if (key.endsWith(` ${peerId}`)) verifiedUntil.delete(key);
    },
    // Asked at every stage step: free while nobody is distrusted.
    trusted: (expertId, peerId) => distrustedUntil.size === 0 || !distrusted(expertId, peerId, c.clock()),
  };
}
