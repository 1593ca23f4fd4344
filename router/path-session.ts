/**
 * A generation session over a whole path: one StageSession per expert, run one after another for
 * each step (prefill, then one position per decode step). Stages fail over independently.
 */
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
}

export class PathSession {
  readonly #stages: StageSession[];

  constructor(init: PathSessionInit, c: StageSessionComponents) {
    this.#stages = init.path.map((expertId) => new StageSession({ ...init, expertId }, c));
  }

  /** Runs hidden [1,T,D] at `position` through every stage; resolves the last stage's output. */
  async forward(hidden: F32, position: number, opts: StepOpts): Promise<F32> {
    let h = hidden;
    for (const s of this.#stages) h = await s.step(h, position, opts);
    return h;
  }

  /** Peer ids now serving each stage ('' for a stage not yet placed). */
  hosts(): string[] {
    return this.#stages.map((s) => s.host ?? '');
  }

  /** Failovers by replay so far, over all stages. */
  replays(): number {
    return this.#stages.reduce((n, s) => n + s.replays, 0);
  }

  /** Ends every stage's host session; `failed` marks their spans as errors. */
  close(failed = false): void {
    for (const s of this.#stages) s.close(failed);
  }
}
