/**
 * Stop sequences over streamed text (OpenAI semantics): generation ends at the first occurrence of
 * any stop string, which is not part of the output. Text that might be the start of a stop string is
 * held back until it is known not to be. Pure.
 */

export type StopPush = { type: 'text'; text: string } | { type: 'stop'; text: string };

export class StopMatcher {
  readonly #stops: string[];
  readonly #keep: number;
  #pending = '';

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0);
    this.#keep = Math.max(0, ...this.#stops.map((s) => s.length - 1));
  }

  /**
   * Adds generated text; returns the text safe to emit now, or, when a stop string completed, the
   * text before it (and the caller stops).
   */
  push(text: string): StopPush {
    this.#pending += text;
    let first = -1;
    for (const s of this.#stops) {
      const i = this.#pending.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      const out = this.#pending.slice(0, first);
      this.#pending = '';
      return { type: 'stop', text: out };
    }
    const hold = this.#holdLength();
    const out = this.#pending.slice(0, this.#pending.length - hold);
    this.#pending = this.#pending.slice(this.#pending.length - hold);
    return { type: 'text', text: out };
  }

  /** The end of generation (not by a stop string): everything held back. */
  flush(): string {
    const out = this.#pending;
    this.#pending = '';
    return out;
  }

  /** Length of the longest suffix of the pending text that is a proper prefix of a stop string. */
  #holdLength(): number {
    const p = this.#pending;
    for (let n = Math.min(this.#keep, p.length); n > 0; n--) {
      const tail = p.slice(p.length - n);
      if (this.#stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
