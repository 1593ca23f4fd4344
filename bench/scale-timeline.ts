/**
 * Whether a swarm's holder sets settle after a crash (the scale scenario's "no oscillation"): the
 * membership of every (host, expert) pair is followed over snapshots. A move changes two pairs once
 * each (the host leaves one expert and joins another); a pair that changes twice or more is a flap,
 * a host joining an expert and leaving it again (or the reverse), which is what oscillation would
 * look like. Pure; fed by bench/scale.ts.
 */

export interface TimelineHost {
  index: number;
  served: readonly string[];
}

export interface TimelineSummary {
  /** Pair changes seen (a move makes two). */
  changes: number;
  /** Pairs that changed twice or more. */
  flaps: number;
  /** When the last change was seen (the `at` of that observation), or undefined when none was. */
  lastChangeAt: number | undefined;
}

export class HolderTimeline {
  readonly #experts: readonly string[];
  readonly #member = new Map<string, boolean>();
  readonly #changes = new Map<string, number>();
  #lastChangeAt: number | undefined;

  constructor(experts: readonly string[]) {
    this.#experts = experts;
  }

  /** One snapshot at time `at` of the hosts followed (hosts absent from it are not judged). */
  observe(at: number, hosts: readonly TimelineHost[]): void {
    for (const h of hosts) {
      for (const e of this.#experts) {
        const key = `${h.index}\t${e}`;
        const now = h.served.includes(e);
        const was = this.#member.get(key);
        this.#member.set(key, now);
        if (was === undefined || was === now) continue;
        this.#changes.set(key, (this.#changes.get(key) ?? 0) + 1);
        this.#lastChangeAt = at;
      }
    }
  }

  summary(): TimelineSummary {
    let changes = 0, flaps = 0;
    for (const n of this.#changes.values()) { changes += n; if (n >= 2) flaps++; }
    return { changes, flaps, lastChangeAt: this.#lastChangeAt };
  }
}
