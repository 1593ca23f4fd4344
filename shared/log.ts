/**
 * Logs go to stderr as single lines (`time level component message {fields}`); machine-readable
 * events go to stdout as one JSON object a line (SPEC.md section 2). Nothing else writes to stdout.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

/** A logger writing to `write` (stderr by default), dropping levels below SWARMPATH_LOG (default info). */
export function createLogger(component: string, opts: { level?: Level; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? (process.env.SWARMPATH_LOG as Level | undefined) ?? 'info'] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => { process.stderr.write(line + '\n'); });
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    let extra = '';
    if (fields && Object.keys(fields).length > 0) {
      try { extra = ' ' + JSON.stringify(fields, (_k, v) => (v instanceof Error ? v.message : typeof v === 'bigint' ? String(v) : v)); } catch { extra = ''; }
    }
    write(`${new Date().toISOString()} ${level.padEnd(5)} ${component}: ${msg}${extra}`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (c) => createLogger(`${component}/${c}`, opts),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {}, child() { return silentLogger; },
};

/** Prints one machine-readable event to stdout. */
export function emitEvent(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}
