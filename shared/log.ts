/**
 * Logs go to stderr as JSON lines (pino): `{"level":"info","time":"…","component":"host/dht","msg":"…", …fields}`;
 * an Error in any field keeps its type, message, stack and cause (pino's err serializer). Machine-
 * readable events go to stdout as one JSON object a line (SPEC.md section 2). Nothing else writes to
 * stdout.
 *
 * Call sites see the small `Logger` interface, not pino: a component gets its logger injected (tests
 * pass `silentLogger` or a logger writing to an array) and names its children.
 */
import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  /** Lowest level written (default: SWARMPATH_LOG, else info). */
  level?: Level;
  /** Where each JSON line goes (default: stderr, written synchronously so a crash loses nothing). */
  write?: (line: string) => void;
}

/** A logger for `component`, writing JSON lines. */
export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const fromEnv = process.env.SWARMPATH_LOG;
  const level = opts.level ?? (LEVELS.includes(fromEnv as Level) ? fromEnv as Level : 'info');
  const destination: DestinationStream = opts.write
    ? { write: (line: string) => opts.write!(line.endsWith('\n') ? line.slice(0, -1) : line) }
    : pino.destination({ fd: 2, sync: true });
  // A child of `swarmpath swarm` names itself (`proc`), so that the swarm's merged stderr stays JSON lines.
  const proc = process.env.SWARMPATH_PROCESS;
  const root = pino({
    level,
    base: proc ? { proc } : undefined,
    timestamp: stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      // Errors anywhere in the fields keep their stack (pino's own serializer handles `err` after this).
      log: (obj) => serializeErrors(obj),
    },
  }, destination);
  return wrap(root, component);
}

function wrap(root: PinoLogger, component: string): Logger {
  const p = root.child({ component });
  return {
    debug: (msg, fields) => { if (fields) p.debug(fields, msg); else p.debug(msg); },
    info: (msg, fields) => { if (fields) p.info(fields, msg); else p.info(msg); },
    warn: (msg, fields) => { if (fields) p.warn(fields, msg); else p.warn(msg); },
    error: (msg, fields) => { if (fields) p.error(fields, msg); else p.error(msg); },
    child: (c) => wrap(root, `${component}/${c}`),
  };
}

function serializeErrors(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (v instanceof Error && k !== 'err') {
      out ??= { ...obj };
      out[k] = stdSerializers.err(v);
    } else if (typeof v === 'bigint') {
      out ??= { ...obj };
      out[k] = String(v);
    }
  }
  return out ?? obj;
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug() {}, info() {}, warn() {}, error() {}, child() { return silentLogger; },
};

/** Prints one machine-readable event to stdout. */
export function emitEvent(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}
