/**
 * One stage (expert) of a generation session, with failover by replay. The stage records every input
 * it sent (the hidden states of all positions so far). When its host fails — any error except bad
 * input or the request's own cancellation — it picks another replica, opens a session there and
 * replays the recorded inputs together with the current step as one prefill at position 0, then
 * continues. A session whose host has since failed its expert's probe (the pool distrusts it) moves the
 * same way at its next step. Each call has a deadline; attempts are bounded; nothing waits forever.
 *
 * Hosts are not trusted to judge the router's input: only the router's own validation makes a 4xx,
 * and any error a host returns (INVALID_ARGUMENT included) is that host's failure. An output with a
 * NaN or an infinity is an integrity failure: the host is distrusted and the session moves. With the
 * pool's cross-checks on (router/cross-check.ts), a step due for one is recomputed on other replicas
 * before its output is used; when the host is outvoted, the client gets the majority's output and
 * the session moves.
 *
 * Chained steps (host-to-host forwarding, router/path-session.ts): with `chain` set the session is
 * opened so that its host takes steps pushed by the host before it; `beginChained` sends a step whose
 * output goes on, `expectChained` reserves one that comes by push, and `finishChained` applies to
 * its result the same checks, records and accounting as `step`. Any failure there falls back to
 * `step` (replay included), with the input the router holds.
 */
import { SwarmpathError, asSwarmpathError, CancelledError, IntegrityError, InternalError, UnavailableError } from '../shared/errors.ts';
import type { F32 } from '../shared/runtime-types.ts';
import type { CallOpts, ChainedStepCall, ChainedStepResult, ChainedSteps, ExpectedStep, ExpertSession, PushTarget } from '../shared/transport-types.ts';
import type { Replica } from './replica-pool.ts';
import type { StageSessionComponents, StageSessionInit, StepOpts } from './stage-types.ts';
import { allFinite } from './cross-check.ts';
import { startStageSpan } from '../shared/telemetry/stage-span.ts';
import { lastRows, StageHistory } from './stage-history.ts';
import { isLoopbackAddress } from '../shared/net-address.ts';
import type { StageSpan } from '../shared/telemetry/stage-span.ts';

export type { StageEvents, StageSessionComponents, StageSessionInit, StageTimeouts, StepOpts } from './stage-types.ts';

export class StageSession {
  readonly expertId: string;
  readonly #init: StageSessionInit;
  readonly #c: StageSessionComponents;
  readonly #clock: () => number;
  #replica: Replica | undefined;
  /** This stage session's span (tracing; a no-op while tracing is off). */
  readonly #span: StageSpan;
  #session: ExpertSession | undefined;
  /** The current replica's address is a loopback one (set when a replica is chosen). */
  #loopback = false;
  readonly #history: StageHistory;
  #replays = 0;
  /** The session was dropped after a failure and not yet re-established. */
  #moving = false;
  /** Replicas that failed this session: tried again only when nothing else is left. */
  readonly #failed = new Set<string>();
  #lastError: SwarmpathError | undefined;

  constructor(init: StageSessionInit, c: StageSessionComponents) {
    this.expertId = init.expertId;
    this.#init = init;
    this.#c = c;
    this.#clock = c.clock ?? Date.now;
    this.#span = startStageSpan(`stage ${init.expertId}`, {
      'swarmpath.expert': init.expertId, 'swarmpath.max_length': init.maxLength, 'swarmpath.request_id': init.clientSessionId ?? '',
    });
    this.#history = new StageHistory(init.dModel, Math.min(init.maxLength, 64));
  }

  /** Peer id of the host now serving this stage (undefined before the first step). */
  get host(): string | undefined {
    return this.#replica?.peerId;
  }

  /** Whether the host now serving this stage is on this machine (false before one is chosen). */
  get onLoopback(): boolean {
    return this.#loopback;
  }

  /** Times the session moved to another replica (replaying its history) and went on. */
  get replays(): number {
    return this.#replays;
  }

  /** Positions recorded so far. */
  get length(): number {
    return this.#history.length;
  }

  /** Runs hidden [1,T,D] at `position` (= positions so far) and resolves the stage's output [1,T,D]. */
  async step(hidden: F32, position: number, opts: StepOpts): Promise<F32> {
    if (position !== this.#history.length) {
      throw new InternalError(`stage ${this.expertId}: step at ${position} but ${this.#history.length} positions recorded`);
    }
    const T = hidden.dims[1];
    const maxAttempts = this.#init.maxAttempts ?? 4;
    let lastErr: SwarmpathError | undefined;
    // `maxAttempts` bounds retries on replicas already tried; while each attempt reaches a replica this
    // session has not failed on yet (records of dead hosts outlive them: after a crash several may
    // refuse at once), it goes on, up to 4 x maxAttempts and the request's deadline.
    let attempts = 0;
    for (let attempt = 1; attempt <= maxAttempts * 4; attempt++) {
      attempts = attempt;
      const r = this.#replica;
      if (this.#session && r && !this.#c.pool.trusted(this.expertId, r.peerId)) {
        // Its output failed a probe since this session started there: go on elsewhere, by replay.
        this.#lastError = new IntegrityError(`host ${r.peerId} failed the probe of expert ${this.expertId}`);
        this.#dropReplica(this.#lastError, 0, 0);
      }
      if (this.#session?.closed) {
        // The stream ended while this stage was idle (its host died or ended it; another stage on
        // the same host may have seen it first): a new session there would start empty, so move by replay.
        this.#lastError = new UnavailableError(`the session of expert ${this.expertId} on ${r?.peerId ?? 'its host'} closed`);
        this.#dropReplica(this.#lastError, 0, 0);
      }
      const replay = this.#session === undefined && this.#history.length > 0;
      const t0 = this.#clock();
      try {
        const session = await this.#ensureSession(this.#failed, opts);
        const input = replay ? this.#history.with(hidden) : hidden;
        let out = await this.#call(session, input, replay ? 0 : position, opts);
        const replica = this.#replica as Replica;
        if (!allFinite(out)) {
          this.#c.pool.distrustHost(replica.peerId, replica.grpc, `its ${this.expertId} output holds NaN or infinity`);
          throw new IntegrityError(`host ${replica.peerId} returned a non-finite output for expert ${this.expertId}`);
        }
        // The whole sequence is copied only for a step that is checked (a copy per step grows with the context).
        const checked = await this.#crossCheck(replica, () => (replay ? input : this.#history.with(hidden)), replay ? lastRows(out, T) : out, opts);
        if (checked) out = checked;
        this.#history.record(hidden);
        if (this.#moving) {
          this.#moving = false;
          this.#replays++;
          this.#c.events?.onFailover?.(this.expertId, this.#lastError?.code ?? 'UNKNOWN');
          this.#span.event('replay', { 'swarmpath.host': this.#replica?.peerId ?? '', 'swarmpath.positions': this.#history.length });
        }
        return replay && !checked ? lastRows(out, T) : out;
      } catch (err) {
        const e = asSwarmpathError(err);
        if (opts.signal?.aborted) throw new CancelledError('request cancelled', e);
        this.#lastError = e;
        if (e.code === 'NO_LIVE_REPLICA') throw e;
        lastErr = e;
        const untried = this.#replica !== undefined && !this.#failed.has(this.#replica.peerId) && e.code !== 'DEADLINE_EXCEEDED';
        this.#dropReplica(e, (replay ? this.#history.length : 0) + T, (this.#clock() - t0) / 1000);
        if (this.#clock() >= opts.deadlineMs) break;
        if (attempt >= maxAttempts && !untried) break;
      }
    }
    throw new SwarmpathError(lastErr?.code === 'DEADLINE_EXCEEDED' ? 'DEADLINE_EXCEEDED' : 'UNAVAILABLE',
      `stage ${this.expertId} failed ${attempts} times: ${lastErr?.message ?? 'deadline reached'}`, { cause: lastErr, retryAfterS: 2 });
  }

  /**
   * Opens this stage's session ahead of its first step, so that a path's stages open at once rather
   * one after another. A failure is handled as a failed step's (the step then tries another replica),
   * except NO_LIVE_REPLICA and cancellation, which are the request's.
   */
  async open(opts: StepOpts): Promise<void> {
    if (this.#session && !this.#session.closed) return;
    const t0 = this.#clock();
    try {
      await this.#ensureSession(this.#failed, opts);
    } catch (err) {
      const e = asSwarmpathError(err);
      if (opts.signal?.aborted) throw new CancelledError('request cancelled', e);
      if (e.code === 'NO_LIVE_REPLICA') throw e;
      this.#lastError = e;
      this.#dropReplica(e, 0, (this.#clock() - t0) / 1000);
    }
  }

  /** Whether a chained step at `position` can run here now: a live, trusted session that takes pushes and holds every position so far. */
  chainable(position: number): boolean {
    const r = this.#replica;
    return this.#session?.chain !== undefined && !this.#session.closed && !this.#moving && r !== undefined
      && this.#history.length === position && this.#c.pool.trusted(this.expertId, r.peerId);
  }

  /** Reserves this stage's step at `position` for a push from the stage before it (only while `chainable`); `hops` stages run before its result. */
  expectChained(position: number, T: number, pushId: number, hops: number, opts: StepOpts): ExpectedStep {
    return this.#chainOps().expect(position, T, pushId, this.#chainedCallOpts(T, hops, opts));
  }

  /** Sends a chained step at `position` (only while `chainable`) whose output goes on along `path`. */
  beginChained(hidden: F32, position: number, path: readonly PushTarget[], opts: StepOpts): ChainedStepCall {
    return this.#chainOps().step(hidden, position, path, this.#chainedCallOpts(hidden.dims[1], 1, opts));
  }

  #chainOps(): ChainedSteps {
    if (!this.#session?.chain) throw new InternalError(`stage ${this.expertId} takes no pushed steps`);
    return this.#session.chain;
  }

  #chainedCallOpts(T: number, hops: number, opts: StepOpts): CallOpts {
    const budget = ((this.#init.stepTimeoutMs ?? 10_000) + T * (this.#init.perPositionMs ?? 2)) * hops;
    return { deadlineMs: Math.min(opts.deadlineMs, this.#clock() + budget), signal: opts.signal, wireDtype: this.#init.wireDtype, traceparent: this.#span.traceparent };
  }

  /**
   * Accepts a chained step's output computed on `input` (what the router holds as this stage's input)
   * over `seconds`: the checks of `step` (finite, cross-check), then recorded. Resolves the output
   * to use (the majority's when a cross-check outvoted the host).
   */
  async finishChained(input: F32, r: ChainedStepResult, seconds: number, opts: StepOpts): Promise<F32> {
    const replica = this.#replica as Replica;
    const T = input.dims[1];
    if (!allFinite(r.hidden)) {
      this.#c.pool.distrustHost(replica.peerId, replica.grpc, `its ${this.expertId} output holds NaN or infinity`);
      throw new IntegrityError(`host ${replica.peerId} returned a non-finite output for expert ${this.expertId}`);
    }
    this.#c.pool.succeeded(this.expertId, replica.peerId, T, seconds);
    this.#c.events?.onCall?.(this.expertId, T > 1 ? 'prefill' : 'decode', seconds);
    if (T > 1) this.#span.prefill(T, seconds * 1000);
    else this.#span.decode(seconds * 1000);
    const checked = await this.#crossCheck(replica, () => this.#history.with(input), r.hidden, opts);
    this.#history.record(input);
    return checked ?? r.hidden;
  }

  /** A chained step failed on this stage's host: the session moves, as after a failed `step`. */
  failChained(err: unknown, seconds: number): void {
    const e = asSwarmpathError(err);
    this.#lastError = e;
    this.#dropReplica(e, 1, seconds);
  }

  /** Ends the host session and the stage span (`failed`: marked with the last error). Idempotent. */
  close(failed = false): void {
    this.#session?.close();
    this.#session = undefined;
    this.#span.end(failed ? this.#lastError ?? new InternalError('generation failed') : undefined);
  }

  async #ensureSession(exclude: ReadonlySet<string>, opts: StepOpts): Promise<ExpertSession> {
    if (this.#session && !this.#session.closed) return this.#session;
    this.#session = undefined;
    const replica = await this.#c.pool.acquire(this.expertId, {
      exclude, cost: Math.max(1, this.#init.maxLength - this.#history.length), signal: opts.signal, deadlineMs: opts.deadlineMs,
    });
    this.#replica = replica;
    this.#loopback = isLoopbackAddress(replica.grpc);
    const deadlineMs = Math.min(opts.deadlineMs, this.#clock() + (this.#init.openTimeoutMs ?? 5000));
    this.#session = await replica.client.openSession(this.expertId, this.#init.maxLength, {
      deadlineMs, signal: opts.signal, wireDtype: this.#init.wireDtype, traceparent: this.#span.traceparent,
      ...(this.#init.chain ? { acceptPush: true } : {}),
    });
    return this.#session;
  }

  async #call(session: ExpertSession, input: F32, position: number, opts: StepOpts): Promise<F32> {
    const T = input.dims[1];
    const budget = (this.#init.stepTimeoutMs ?? 10_000) + T * (this.#init.perPositionMs ?? 2);
    const t0 = this.#clock();
    const out = await session.step(input, position, {
      deadlineMs: Math.min(opts.deadlineMs, t0 + budget), signal: opts.signal, wireDtype: this.#init.wireDtype,
      traceparent: this.#span.traceparent,
    });
    const seconds = (this.#clock() - t0) / 1000;
    const replica = this.#replica as Replica;
    this.#c.pool.succeeded(this.expertId, replica.peerId, T, seconds);
    this.#c.events?.onCall?.(this.expertId, T > 1 ? 'prefill' : 'decode', seconds);
    if (T > 1) this.#span.prefill(T, seconds * 1000);
    else this.#span.decode(seconds * 1000);
    return out;
  }

  /**
   * Runs a cross-check when one is due: the honest output when the replica was outvoted (it is
   * distrusted, and this session moves at its next step), else undefined (`out` stands).
   */
  async #crossCheck(replica: Replica, sequence: () => F32, out: F32, opts: StepOpts): Promise<F32 | undefined> {
    const checker = this.#c.pool.crossCheck;
    if (!checker || !checker.due(this.expertId, replica.peerId)) return undefined;
    const r = await checker.check(this.expertId, replica, sequence(), out, opts.signal);
    if (r.type !== 'primary-wrong') return undefined;
    this.#span.event('cross-check-failed', { 'swarmpath.host': replica.peerId });
    return r.honest;
  }

  /** Forgets the failed replica's session; `work` positions were attempted for `seconds`. */
  #dropReplica(e: SwarmpathError, work: number, seconds: number): void {
    const replica = this.#replica;
    this.#session?.close();
    this.#session = undefined;
    if (!replica) return;
    // A deadline exceeded is slowness, not death: the replica may be tried again (the balancer
    // already counts the slow call against it). Any other failure excludes it for this session.
    if (e.code !== 'DEADLINE_EXCEEDED') this.#failed.add(replica.peerId);
    this.#moving = true;
    // A full host is not a sick one; a distrusted one is already out of the balancer.
    if (e.code !== 'RESOURCE_EXHAUSTED' && e.code !== 'INTEGRITY') this.#c.pool.failed(this.expertId, replica.peerId, e, work, seconds);
    this.#c.log.warn('stage call failed; moving the session to another replica', {
      expert: this.expertId, host: replica.peerId, grpc: replica.grpc, code: e.code, error: e.message, positions: this.#history.length,
    });
    this.#c.events?.onRetry?.(this.expertId, e.code);
    this.#span.event('failover', { 'swarmpath.reason': e.code, 'swarmpath.host': replica.peerId, 'swarmpath.positions': this.#history.length });
    this.#replica = undefined;
  }
}
