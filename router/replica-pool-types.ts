/**
 * The contracts of the router's replica pool (./replica-pool.ts): its settings, the components it is
 * built from, and what it offers the generator and the HTTP API. Types only.
 */
import type { SwarmpathError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import type { Discovery, ExpertClient } from '../shared/transport-types.ts';
import type { FailureOutcome, ReplicaBalancer } from './replica-balancer.ts';
import type { ReplicaVerifier } from '../shared/model/probe-verifier.ts';
import type { CrossChecker, CrossCheckInit, CrossCheckResult } from './cross-check.ts';

export interface ReplicaPoolInit {
  model: string;
  /**
   * How long an expert's discovery results are reused before a background refresh while all its
   * known replicas are usable, ms (default 30000). Sooner: after a failed call (the next use), while
   * one of them is banned (`recheckMs`: it may come back, and its re-announcement lifts the ban), and
   * while none is known (`pollMs`; `acquire` also polls fresh results while it has none to pick).
   */
  cacheTtlMs?: number;
  /** How long results are reused while a replica of the expert is banned, ms (default 5000, at most `cacheTtlMs`). */
  recheckMs?: number;
  /** How long `acquire` waits for a live replica before NoLiveReplicaError, ms (default 10000). */
  noReplicaWaitMs?: number;
  /** Discovery polling interval while waiting, ms (default 500). */
  pollMs?: number;
  /**
   * Safety bound of one discovery query, ms (default 15000). Discovery bounds its own searches
   * (shared/dht/discovery.ts); this only guards against a query that never ends.
   */
  discoveryTimeoutMs?: number;
  /** Deadline of the Info probe a replica must pass after a ban before it gets work again, ms (default 1000). */
  probeTimeoutMs?: number;
  /** Mean interval between checks of a replica's probe, ms (default 600000; each drawn from U(0.5, 1.5) of it). */
  verifyEveryMs?: number;
  /** How long a replica that failed its probe, or a host caught by a cross-check, gets no work, ms (default 600000). */
  distrustMs?: number;
  /** Cross-checks of real steps on other replicas (./cross-check.ts); absent: none. */
  spotCheck?: CrossCheckInit;
  /** Before first work, a replica's endpoint must prove its record's peer id (./identity-check.ts). */
  checkIdentity?: boolean;
}

export interface ReplicaPoolComponents {
  discovery: Discovery;
  balancer: ReplicaBalancer;
  /** Opens a client for a host's gRPC address (the real one: shared/grpc createExpertClient). */
  connect(address: string): ExpertClient;
  clock?: () => number;
  log: Logger;
  /** Called with each expert's live replica count after a discovery refresh. */
  onLiveReplicas?(expertId: string, count: number): void;
  /** Checks that a replica computes its expert (shared/model/probe-verifier.ts); absent: no checks. */
  verify?: ReplicaVerifier;
  /** Called with each probe's outcome: 'ok', 'mismatch', or 'error' (the call failed). */
  onVerified?(expertId: string, peerId: string, result: 'ok' | 'mismatch' | 'error'): void;
  /** Uniform [0, 1) draws for the re-check intervals and cross-check sampling (default Math.random). */
  random?: () => number;
  /** Each cross-check's outcome. */
  onCrossCheck?(expertId: string, result: CrossCheckResult['type']): void;
  /** A host was distrusted for wrong results (cross-check, non-finite output). */
  onDistrustedHost?(peerId: string, address: string): void;
}

/** A replica chosen for a call. */
export interface Replica {
  peerId: string;
  grpc: string;
  client: ExpertClient;
}

export interface AcquireOpts {
  /** Replicas this request already failed on (tried last). */
  exclude?: ReadonlySet<string>;
  /** Work of the call, e.g. positions (balancer cost). */
  cost?: number;
  signal?: AbortSignal;
  /** Absolute deadline (ms since the epoch) of the request; the wait ends there at the latest. */
  deadlineMs?: number;
}

/** One replica as /v1/swarm shows it. */
export interface ReplicaView {
  peerId: string;
  grpc: string;
  /** Steps queued or running at the host's last announcement. */
  load: number;
  /** Positions per second measured by this router (the host's own figure until measured). */
  throughput: number;
}

export interface ReplicaPool {
  acquire(expertId: string, opts?: AcquireOpts): Promise<Replica>;
  /** A call of `work` units on the replica took `seconds` (whole call). */
  succeeded(expertId: string, peerId: string, work: number, seconds: number): void;
  /**
   * A call failed after `seconds` doing `work`; the expert's discovery cache is refreshed on next
   * use. A deadline exceeded strikes nothing but counts its time as a (slow) measurement.
   */
  failed(expertId: string, peerId: string, err: SwarmpathError, work?: number, seconds?: number): FailureOutcome;
  /** False while the replica is distrusted (its output failed its expert's probe); its sessions should move. */
  trusted(expertId: string, peerId: string): boolean;
  /** The host computed wrong results: no work to its peer id or its address, for any expert, for `distrustMs`. */
  distrustHost(peerId: string, address: string, reason: string): void;
  /** Cross-checks of real steps (init.spotCheck); undefined when off. */
  readonly crossCheck?: CrossChecker;
  /** Live (not banned) replicas of each expert. */
  view(expertIds: readonly string[], opts?: { signal?: AbortSignal }): Promise<Record<string, ReplicaView[]>>;
  /**
   * Which experts have no replica that may get work now: live (not banned, not distrusted) and, with
   * `verify`, past its latest probe (a discovered replica not yet probed does not count; its probe
   * runs in the background). Refreshes a stale discovery cache like `view`. What GET /readyz reports.
   */
  readiness(expertIds: readonly string[], opts?: { signal?: AbortSignal }): Promise<{ ready: boolean; missing: string[] }>;
  /**
   * Starts discovery of these experts in the background (a router warms its cache at start): with a
   * discovery that can `learn`, a first view (shared/dht/first-view.ts) that uses of the other experts
   * wait for, then a search for each expert it did not cover.
   */
  warm(expertIds: readonly string[]): void;
  /** Closes every client. */
  close(): void;
}
