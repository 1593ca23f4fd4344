/**
 * Contracts of the network edges, so that router and host logic can be tested against in-memory
 * fakes (test/fakes/) and run against the real thing (shared/grpc/, shared/dht/). Types only.
 */
import type { F32 } from './runtime-types.ts';

import type { HostRecord, HostState } from './dht/host-record-schema.ts';

export type { HostRecord, HostState } from './dht/host-record-schema.ts';
export type WireDtype = 'float32' | 'float16';

/** Options of one remote call. Every call has a deadline. */
export interface CallOpts {
  /** Absolute deadline, ms since the epoch. */
  deadlineMs: number;
  signal?: AbortSignal;
  /** W3C traceparent of the calling span. */
  traceparent?: string;
  /** Dtype of activations on the wire (both ways). */
  wireDtype?: WireDtype;
}

export interface HostInfo {
  peerId: string;
  version: string;
  model: string;
  experts: { expertId: string; sha256: string; layers: number; activeSessions: number }[];
  queueDepth: number;
  throughput: number;
  kvCapacityBytes: number;
  kvFreeBytes: number;
  state: HostState;
  device: string;
  maxContext: number;
  /** The host's signature of the Info call's nonce (shared/identity.ts); absent when none was asked or it has no DHT identity. */
  identitySignature?: Uint8Array;
}

/** A client of one expert host (one gRPC channel). Errors are SwarmpathErrors (shared/errors.ts). */
export interface ExpertClient {
  readonly address: string;
  /** `nonce`: the host signs it with its libp2p key (shared/identity.ts). */
  info(opts: CallOpts & { nonce?: Uint8Array }): Promise<HostInfo>;
  /** Stateless call: hidden [B,T,D] in, [B,T,D] out. */
  forward(expertId: string, hidden: F32, opts: CallOpts): Promise<F32>;
  /** Opens a generation session reserving `maxLength` positions; RESOURCE_EXHAUSTED when full. */
  /** `acceptPush`: the session may take its steps' inputs from the host before it (`ExpertSession.chain`). */
  openSession(expertId: string, maxLength: number, opts: CallOpts & { acceptPush?: boolean }): Promise<ExpertSession>;
  close(): void;
}

/** One generation session on one host for one expert (a bidirectional stream). */
export interface ExpertSession {
  /**
   * Appends hidden [1,T,D] at `position` (the cache length before the step; a smaller value
   * truncates first, which makes retries and replays idempotent). Resolves the expert's output [1,T,D].
   */
  step(hidden: F32, position: number, opts: CallOpts): Promise<F32>;
  /** Ends the session; the host frees its KV reservation. Idempotent. */
  close(): void;
  readonly closed: boolean;
  /** Host-to-host forwarding (chained steps): present when the session was opened with `acceptPush` over a transport that has it. */
  readonly chain?: ChainedSteps;
}

/** A later stage of a chained step: its host's session and the step it answers with (proto PushTarget). */
export interface PushTarget {
  address: string;
  sessionId: string;
  /** The router's authorization of this one push (shared/push-tag.ts). */
  tag: Uint8Array;
  pushId: number;
  stepId: number;
}

export interface ChainedStepResult {
  /** The expert's output [1,T,D]. */
  hidden: F32;
  /** The host pushed the output on (`pushFailed` tells if that failed). */
  pushed: boolean;
  /** Pushed steps and their replacements: SHA-256 of the float32 input the host computed on. */
  inputDigest?: Uint8Array;
}

export interface ChainedStepCall {
  readonly result: Promise<ChainedStepResult>;
  /** Resolves the reason when the host reports that its push failed (after the result); else never. */
  readonly pushFailed: Promise<string>;
}

/** A step this session's host will get by push from the host before it. */
export interface ExpectedStep extends ChainedStepCall {
  /** Goes in the path of the step before it. */
  readonly target: PushTarget;
  /** Sends the input from here instead (the push failed, or the stage before ran again), with the rest of the path; whichever of the two comes first runs. */
  replace(hidden: F32, path: readonly PushTarget[]): void;
}

/** Chained steps of one session (proto: SessionStep.push_to / replaces_push, Push). */
export interface ChainedSteps {
  /** Reserves this session's step at `position` (T positions) for a push under `pushId`. */
  expect(position: number, T: number, pushId: number, opts: CallOpts): ExpectedStep;
  /** A step whose output the host pushes along `path` (the later stages' targets, in order). */
  step(hidden: F32, position: number, path: readonly PushTarget[], opts: CallOpts): ChainedStepCall;
}

/** Finds hosts through the DHT. */
export interface Discovery {
  /**
   * Live (ONLINE, unexpired) hosts serving `expertId` of `model`. `fresh`: a new search, records
   * fetched again (an OFFLINE record is seen at once); `cachedRecords` with it: a new provider search,
   * but known records reused until they expire (callers that check liveness themselves). Rejects
   * (UnavailableError) when the search ran out of time without finding any provider: "no answer" is
   * not "no host".
   */
  replicas(model: string, expertId: string, opts?: { signal?: AbortSignal; fresh?: boolean; cachedRecords?: boolean }): Promise<HostRecord[]>;
  /** Every live host of the swarm (any model). */
  allHosts(opts?: { signal?: AbortSignal; fresh?: boolean }): Promise<HostRecord[]>;
  /** Drops what is cached of a host (its record): the next lookup asks afresh. */
  forget?(peerId: string): void;
  /**
   * Asks these peers (hosts, routers) for the host records they know, and resolves the valid, live
   * ones (each signed by the host it names; cached as if fetched). A joining router learns the swarm
   * this way from the first hosts it finds. Never rejects: a peer that does not answer adds nothing.
   */
  learn?(peerIds: readonly string[], opts?: { signal?: AbortSignal }): Promise<HostRecord[]>;
}
