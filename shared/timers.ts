/**
 * Timers as components: long-lived parts take them so that tests drive time by hand (fake timers)
 * instead of sleeping. The real ones are unref'd: a pending refresh never keeps a process alive.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
