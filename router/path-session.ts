/**
 * A generation session over a whole path: one StageSession per expert, run one after another for
 * each step (prefill, then one position per decode step). Stages fail over independently; stages
 * without a session open theirs together before a step. A long prefill (at least two chunks of
 * PREFILL_CHUNK positions) that is not chained goes through the stages in chunks, pipelined: stage
 * s runs chunk j while stage s + 1 runs chunk j - 1 (as in Petals), so that time to first token
 * approaches one stage's compute rather than their sum.
 *
 * Re-routing (router/reroute.ts): `reroute(path, fromLevel)` ends the sessions of stages `fromLevel`…
 * and opens new ones on the new path's experts; at the next `forward` each of them is prefilled with
 * the whole context: the first moved stage with its recorded inputs (what the unchanged levels before
 * it sent, kept when `recordInputs` is set) plus the new positions, the later ones with the moved
 * stages' outputs over the whole context. Such a step resolves all positions [1, position + T, D].
 *
 * Chained steps (`chain`, host-to-host forwarding as in SWARM and Petals): when every stage holds a
 * live session that takes pushed steps, the router sends the step to stage 0 only, with the path of
 * the later stages (each named by a push tag only the router can make, shared/push-tag.ts); stage
 * k's host pushes its output straight to stage k+1's host, which runs it and pushes on. Every host
 * also answers the router, which records each output (for replay) and checks that each stage
 * computed on exactly the output the stage before answered (SHA-256, so a host cannot push one
 * thing and report another). Whatever goes wrong — a host fails, a push fails or does not come, a
 * digest differs, a cross-check outvotes a host — the router sends the input it holds itself, or
 * runs the stage as a plain step (replay included), and the text is the same. A push that failed or
 * mismatched makes the session router-driven from then on. A one-stage path has nothing to chain.
 */
import { randomInt } from 'node:crypto';
import { InternalError } from '../shared/errors.ts';
import type { F32 } from '../shared/runtime-types.ts';
import { StageSession } from './stage-session.ts';
import type { StageSessionComponents, StageTimeouts, StepOpts } from './stage-session.ts';
import type { ChainedStepCall, ChainedStepResult, ExpectedStep, PushTarget } from '../shared/transport-types.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import { tensorDigest } from '../shared/grpc/tensor-codec.ts';

export interface PathSessionInit extends StageTimeouts {
  path: readonly string[];
  maxLength: number;
  dModel: number;
  wireDtype?: WireDtype;
  clientSessionId?: string;
  /**
   * Keep every stage's inputs so that `reroute` can prefill moved stages (d_model x 4 bytes per
   * position per stage, beside the StageSession's own record for failover). Off: `reroute` throws.
   */
  recordInputs?: boolean;
  /** Chained steps (host-to-host forwarding) where every stage can take them (default off). */
  chain?: ChainMode;
  /** Positions of a pipelined prefill's chunks (default PREFILL_CHUNK; 0: never pipelined). */
  prefillChunk?: number;
}

/**
 * When steps go chained: `on` always (where every stage can), `off` never, `auto` unless every host
 * of the path is on this machine: there no network latency is saved and the processes share the
 * same cores, where relaying measured cheaper (BENCHMARKS.md, decode: swarm_step_ms vs swarm_step_ms_chain).
 */
export type ChainMode = 'auto' | 'on' | 'off';

/** What a chained step did: stages that ran chained, and those the router had to run or supply. */
export interface ChainStats {
  chainedSteps: number;
  /** Stages whose input the router supplied or that it ran as a plain step after a chained attempt. */
  fallbacks: number;
}

/** Positions of one chunk of a pipelined prefill (a step of at least twice this many is pipelined; PathSessionInit.prefillChunk). */
export const PREFILL_CHUNK = 256;

/** How long a chained stage's answer is awaited, after the stage before it answered, before the router supplies its input itself, ms (plus twice its last duration). */
const PUSH_HEDGE_MS = 250;

export class PathSession {
  readonly #init: PathSessionInit;
  readonly #c: StageSessionComponents;
  #stages: StageSession[];
  #path: readonly string[];
  /** With `recordInputs`: the inputs stage s has seen, positions [0, #recorded[s]). */
  readonly #inputs: Float32Array[];
  readonly #recorded: number[];
  /** Replays of stage sessions ended by a re-route. */
  #retiredReplays = 0;
  /** Seconds of each moved stage's prefill in the last `forward` (empty when none moved). */
  #prefillSeconds: number[] = [];
  /** Set after a push failed or a pushed input differed: router-driven from then on. */
  #chainOff = false;
  /** Each stage's last chained duration, ms (how long a missing push is waited for). */
  readonly #stageMs: number[] = [];
  readonly #chainStats: ChainStats = { chainedSteps: 0, fallbacks: 0 };

  constructor(init: PathSessionInit, c: StageSessionComponents) {
    this.#init = init;
    this.#c = c;
    this.#path = init.path;
    this.#stages = init.path.map((expertId) => this.#open(expertId));
    this.#inputs = init.path.map(() => new Float32Array(0));
    this.#recorded = init.path.map(() => 0);
  }

  /** The path now served. */
  get path(): readonly string[] {
    return this.#path;
  }

  /**
   * Runs hidden [1,T,D] at `position` through every stage; resolves the last stage's output: [1,T,D],
   * or [1,position+T,D] (every position) when a stage moved by `reroute` was prefilled on the way.
   */
  async forward(hidden: F32, position: number, opts: StepOpts): Promise<F32> {
    const T = hidden.dims[1];
    const clock = this.#c.clock ?? Date.now;
    let h = hidden;
    this.#prefillSeconds = [];
    // Stages that have not run yet (the first step, or moved by a re-route) open their sessions now,
    // all at once, and a prefill can go chained too. A stage moving after a failure replays in `step`.
    const unopened = this.#stages.filter((st) => st.host === undefined && st.length === 0);
    if (unopened.length > 0) await Promise.all(unopened.map((st) => st.open(opts)));
    if (this.#chains() && this.#stages.every((st) => st.chainable(position))) {
      return this.#forwardChained(hidden, position, opts);
    }
    const chunk = this.#init.prefillChunk ?? PREFILL_CHUNK;
    if (chunk > 0 && T >= 2 * chunk && this.#stages.length > 1 && this.#stages.every((st) => st.length === position)) {
      return this.#forwardPipelined(hidden, position, chunk, opts);
    }
    for (let s = 0; s < this.#stages.length; s++) {
      const stage = this.#stages[s];
      const fresh = stage.length === 0 && position > 0;
      if (!fresh && h.dims[1] !== T) throw new InternalError(`stage ${s} kept its session but got every position`);
      const input = fresh && h.dims[1] === T ? this.#withRecorded(s, h, position) : h;
      const t0 = clock();
      const out = await stage.step(input, fresh ? 0 : position, opts);
      if (fresh) this.#prefillSeconds.push((clock() - t0) / 1000);
      if (this.#init.recordInputs) this.#record(s, input, position, T);
      h = out;
    }
    return h;
  }

  /**
   * A long step (a prompt) in chunks of `chunk` positions, pipelined across stages: stage s runs
   * chunk j while stage s + 1 runs chunk j - 1, so that the stages' hosts compute at once instead of
   * in turn. Each stage still takes its chunks in order, one step at a time (its failover replays as
   * for any step). Resolves the last stage's outputs of every chunk, joined: [1,T,D].
   */
  async #forwardPipelined(hidden: F32, position: number, chunk: number, opts: StepOpts): Promise<F32> {
    const D = this.#init.dModel;
    const T = hidden.dims[1];
    const chunks: F32[] = [];
    for (let at = 0; at < T; at += chunk) {
      const n = Math.min(chunk, T - at);
      chunks.push({ data: hidden.data.subarray(at * D, (at + n) * D), dims: [1, n, D] });
    }
    const failed = new AbortController();
    const stepOpts: StepOpts = { ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal };
    // outputs[s][j]: stage s's output of chunk j; stage s + 1 awaits it.
    const outputs: Promise<F32>[][] = this.#stages.map(() => []);
    const runStage = async (s: number): Promise<void> => {
      let at = position;
      for (let j = 0; j < chunks.length; j++) {
        const input = s === 0 ? chunks[j] : await outputs[s - 1][j];
        const out = await this.#stages[s].step(input, at, stepOpts);
        if (this.#init.recordInputs) this.#record(s, input, at, input.dims[1]);
        at += input.dims[1];
        resolvers[s][j].resolve(out);
      }
    };
    const resolvers = this.#stages.map((_, s) => chunks.map((_, j) => {
      let r!: { resolve(o: F32): void; reject(e: unknown): void };
      outputs[s][j] = new Promise<F32>((resolve, reject) => { r = { resolve, reject }; });
      outputs[s][j].catch(() => {}); // a failure is reported once, by its stage's loop
      return r;
    }));
    // The first stage to fail for good fails the step; the others stop (their steps are cancelled).
    let firstError: unknown;
    await Promise.allSettled(this.#stages.map((_, s) => runStage(s).catch((err: unknown) => {
      firstError ??= err;
      for (const r of resolvers[s]) r.reject(err);
      failed.abort();
    })));
    if (firstError !== undefined) throw firstError;
    const last = await Promise.all(outputs[this.#stages.length - 1]);
    const data = new Float32Array(T * D);
    let at = 0;
    for (const o of last) { data.set(o.data.subarray(0, o.dims[1] * D), at * D); at += o.dims[1]; }
    return { data, dims: [1, T, D] };
  }

  /** Whether this step may go chained (ChainMode); each stage must still be `chainable`. */
  #chains(): boolean {
    const mode = this.#init.chain ?? 'off';
    if (mode === 'off' || this.#chainOff || this.#stages.length < 2) return false;
    return mode === 'on' || !this.#stages.every((st) => st.onLoopback);
  }

  /** One step through every stage, chained host to host (see the header); resolves the last output [1,T,D]. */
  async #forwardChained(hidden: F32, position: number, opts: StepOpts): Promise<F32> {
    const clock = this.#c.clock ?? Date.now;
    const n = this.#stages.length;
    const T = hidden.dims[1];
    // Stages 1… expect their step by push (random push ids: a stale push never feeds a later step);
    // stage 0 gets it from here with the path of the rest.
    const expected: (ExpectedStep | undefined)[] = this.#stages.map((st, k) => (k === 0 ? undefined : st.expectChained(position, T, randomInt(1, 2 ** 47), k + 1, opts)));
    const targets = expected.map((e) => e?.target);
    const pathFrom = (k: number): PushTarget[] => targets.slice(k) as PushTarget[];
    const calls: ChainedStepCall[] = [this.#stages[0].beginChained(hidden, position, pathFrom(1), opts), ...(expected.slice(1) as ExpectedStep[])];
    // Settled wrappers: later results may fail while earlier ones are awaited.
    const results = calls.map((c) => c.result.then((r): { r: ChainedStepResult } => ({ r }), (err: unknown) => ({ err })));
    this.#chainStats.chainedSteps++;
    let h = hidden;
    /** Whether the stage before pushed exactly `h` on to stage k (else the router sends it). */
    let pushed = true;
    let t0 = clock();
    for (let k = 0; k < n; k++) {
      const stage = this.#stages[k];
      const exp = expected[k];
      if (exp && (!pushed || await this.#pushLost(results[k], calls[k - 1].pushFailed, k))) {
        // No push (or it failed, or never came): send our copy with the rest of the path; of the
        // two, the host runs whichever comes first.
        if (pushed) this.#chainOff = true;
        exp.replace(h, pathFrom(k + 1));
        this.#chainStats.fallbacks++;
      }
      const settled = await results[k];
      const seconds = Math.max(1e-6, (clock() - t0) / 1000);
      t0 = clock();
      let out: F32 | undefined;
      if ('err' in settled) {
        if (opts.signal?.aborted) throw settled.err;
        stage.failChained(settled.err, seconds);
      } else if (k > 0 && !sameDigest(settled.r.inputDigest, h)) {
        // It computed on something other than what the stage before answered: a host that pushed
        // one thing and reported another (or a race with our own copy). Run it again with ours.
        this.#chainOff = true;
        this.#c.log.warn('a chained stage computed on another input than the stage before answered; running it from the router', {
          expert: stage.expertId, host: stage.host, position,
        });
      } else {
        try {
          out = await stage.finishChained(h, settled.r, seconds, opts);
        } catch (err) {
          if (opts.signal?.aborted) throw err;
          stage.failChained(err, seconds);
        }
      }
      if (out === undefined) {
        this.#chainStats.fallbacks++;
        out = await stage.step(h, position, opts);
        pushed = false;
      } else {
        const r = (settled as { r: ChainedStepResult }).r;
        pushed = r.pushed && out === r.hidden;
      }
      if (this.#init.recordInputs) this.#record(k, h, position, T);
      this.#stageMs[k] = seconds * 1000;
      h = out;
    }
    return h;
  }

  /**
   * Whether stage k's input push is lost: its host reported the push failed, or stage k has not
   * answered within PUSH_HEDGE_MS plus twice its last duration after the stage before it did (a
   * host may drop a push without a word). Resolves false once stage k answers (or fails).
   */
  async #pushLost(result: Promise<unknown>, pushFailed: Promise<string>, k: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const hedge = new Promise<true>((r) => { timer = setTimeout(() => r(true), PUSH_HEDGE_MS + 2 * (this.#stageMs[k] ?? 0)); });
    try {
      return await Promise.race([result.then(() => false), pushFailed.then(() => true), hedge]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Chained steps sent and router fallbacks within them (host-to-host forwarding). */
  get chainStats(): Readonly<ChainStats> {
    return this.#chainStats;
  }

  /** Moves stages `fromLevel`… to `path`'s experts; they are prefilled at the next `forward`. */
  reroute(path: readonly string[], fromLevel: number): void {
    if (!this.#init.recordInputs) throw new InternalError('reroute needs a PathSession that records its inputs');
    if (path.length !== this.#stages.length || fromLevel < 0 || fromLevel >= path.length) {
      throw new InternalError(`reroute to ${path.join(',')} from level ${fromLevel} of a ${this.#stages.length}-stage path`);
    }
    for (let s = fromLevel; s < this.#stages.length; s++) {
      this.#retiredReplays += this.#stages[s].replays;
      this.#stages[s].close(false);
      this.#stages[s] = this.#open(path[s]);
    }
    this.#path = path;
  }

  /** Seconds of each stage prefilled after a re-route in the last `forward`, in level order. */
  get prefillSeconds(): readonly number[] {
    return this.#prefillSeconds;
  }

  /** Peer ids now serving each stage ('' for a stage not yet placed). */
  hosts(): string[] {
    return this.#stages.map((s) => s.host ?? '');
  }

  /** Failovers by replay so far, over all stages (those ended by a re-route included). */
  replays(): number {
    return this.#stages.reduce((n, s) => n + s.replays, this.#retiredReplays);
  }

  /** Ends every stage's host session; `failed` marks their spans as errors. */
  close(failed = false): void {
    for (const s of this.#stages) s.close(failed);
  }

  #open(expertId: string): StageSession {
    return new StageSession({ ...this.#init, expertId, chain: (this.#init.chain ?? 'off') !== 'off' }, this.#c);
  }

  /** Stage s's recorded inputs of positions [0, position) followed by `h`: [1, position + T, D]. */
  #withRecorded(s: number, h: F32, position: number): F32 {
    const D = this.#init.dModel;
    if (this.#recorded[s] < position) throw new InternalError(`stage ${s} recorded ${this.#recorded[s]} of ${position} positions`);
    const T = h.dims[1];
    const data = new Float32Array((position + T) * D);
    data.set(this.#inputs[s].subarray(0, position * D));
    data.set(h.data.subarray(0, T * D), position * D);
    return { data, dims: [1, position + T, D] };
  }

  /** Records stage s's input of a step at `position` with T new positions (all positions when it has position + T rows). */
  #record(s: number, input: F32, position: number, T: number): void {
    const D = this.#init.dModel;
    const rows = input.dims[1];
    const at = rows === T ? position : 0;
    const need = (at + rows) * D;
    if (need > this.#inputs[s].length) {
      const grown = new Float32Array(Math.max(need, this.#inputs[s].length * 2, 64 * D));
      grown.set(this.#inputs[s].subarray(0, Math.min(this.#recorded[s], at) * D));
      this.#inputs[s] = grown;
    }
    this.#inputs[s].set(input.data.subarray(0, rows * D), at * D);
    this.#recorded[s] = at + rows;
  }
}

/** Whether `digest` is the SHA-256 of `t`'s float32 values (SessionStepResult.input_digest). */
function sameDigest(digest: Uint8Array | undefined, t: F32): boolean {
  if (!digest) return false;
  return tensorDigest(t).equals(digest);
}
