/**
 * A generation session over a whole path: one StageSession per expert, run one after another for
 * each step (prefill, then one position per decode step). Stages fail over independently.
 *
 * Re-routing (router/reroute.ts): `reroute(path, fromLevel)` ends the sessions of stages `fromLevel`…
 * and opens new ones on the new path's experts; at the next `forward` each of them is prefilled with
 * the whole context: the first moved stage with its recorded inputs (what the unchanged levels before
 * it sent, kept when `recordInputs` is set) plus the new positions, the later ones with the moved
 * stages' outputs over the whole context. Such a step resolves all positions [1, position + T, D].
 */
import { InternalError } from '../shared/errors.ts';
import type { F32 } from '../shared/runtime-types.ts';
import { StageSession } from './stage-session.ts';
import type { StageSessionComponents, StageTimeouts, StepOpts } from './stage-session.ts';
import type { WireDtype } from '../shared/transport-types.ts';

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
}

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
    return new StageSession({ ...this.#init, expertId }, this.#c);
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
