/**
 * One flag parser for every command: a spec of the flags a command takes, parsed once from argv and
 * the environment, unknown flags rejected, the result frozen. A bad flag fails fast with a message
 * that names the flag and what it accepts.
 */
import { BadConfigError } from './errors.ts';

export type FlagKind = 'string' | 'number' | 'int' | 'boolean' | 'list';

export interface FlagSpec {
  kind: FlagKind;
  /** One line for --help. */
  help: string;
  default?: string | number | boolean | string[];
  /** Environment variable read when the flag is absent (lists: comma-separated). */
  env?: string;
  /** Accepted values (strings). */
  choices?: readonly string[];
  /** Inclusive bounds for numbers. */
  min?: number;
  max?: number;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The value a flag parses to: lists are string arrays, booleans booleans, numbers numbers, strings their choices or strings. */
export type FlagValue<S extends FlagSpec> =
  FlagKind extends S['kind'] ? string | number | boolean | string[] // a spec typed only as FlagSpec
    : S['kind'] extends 'list' ? string[]
    : S['kind'] extends 'boolean' ? boolean
      : S['kind'] extends 'number' | 'int' ? number
        : S extends { choices: readonly (infer C extends string)[] } ? C : string;

/** The parsed flags of a spec: a flag with a default (or a boolean) is always set; others may be undefined. */
export type FlagValues<T extends FlagSpecs> = {
  readonly [K in keyof T]: T[K] extends { default: unknown } ? FlagKind extends T[K]['kind'] ? FlagValue<T[K]> | undefined : FlagValue<T[K]>
    : FlagValue<T[K]> | undefined;
};

export interface Parsed<T extends FlagSpecs> {
  flags: FlagValues<T>;
  /** Positional arguments, in order. */
  args: readonly string[];
}

/**
 * Parses `argv` against `spec`. `--name value`, `--name=value`; booleans take no value (`--no-name`
 * negates). Declare a spec `as const satisfies FlagSpecs` (or inline) so that the result is typed.
 */
export function parseFlags<const T extends FlagSpecs>(argv: readonly string[], spec: T,
  env: NodeJS.ProcessEnv = process.env): Parsed<T> {
  const out: Record<string, string | number | boolean | string[] | undefined> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { args.push(...argv.slice(i + 1)); break; }
    if (!a.startsWith('--') || a === '--') { args.push(a); continue; }
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
    const s = spec[name];
    if (!s && name.startsWith('no-') && spec[name.slice(3)]?.kind === 'boolean' && value === undefined) {
      out[name.slice(3)] = false;
      continue;
    }
    if (!s) throw new BadConfigError(`unknown flag --${name}; accepted: ${Object.keys(spec).map((k) => '--' + k).join(', ')}`);
    if (s.kind === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new BadConfigError(`--${name} takes no value (or =true/=false), got ${JSON.stringify(value)}`);
      out[name] = value !== 'false';
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new BadConfigError(`--${name} needs a value (${s.help})`);
      value = argv[++i];
    }
    const v = convert(name, s, value);
    if (s.kind === 'list') out[name] = [...((out[name] as string[] | undefined) ?? []), ...(v as string[])];
    else out[name] = v;
  }
  for (const [name, s] of Object.entries(spec)) {
    if (out[name] !== undefined) continue;
    const fromEnv = s.env ? env[s.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') {
      out[name] = s.kind === 'list' ? fromEnv.split(',').map((x) => x.trim()).filter(Boolean) : convert(`${name} (from ${s.env})`, s, fromEnv);
    } else if (s.default !== undefined) {
      out[name] = Array.isArray(s.default) ? [...s.default] : s.default;
    }
  }
  // Every flag was converted by its spec's kind above: the record has the shape FlagValues<T> describes.
  return Object.freeze({ flags: Object.freeze(out) as FlagValues<T>, args: Object.freeze(args) });
}

function convert(name: string, s: FlagSpec, value: string): string | number | boolean | string[] {
  switch (s.kind) {
    case 'string':
      if (s.choices && !s.choices.includes(value)) throw new BadConfigError(`--${name} must be one of ${s.choices.join(', ')}; got ${JSON.stringify(value)}`);
      return value;
    case 'list':
      return [value];
    case 'boolean':
      return value === 'true' || value === '1';
    case 'number':
    case 'int': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n) || (s.kind === 'int' && !Number.isInteger(n))) {
        throw new BadConfigError(`--${name} must be ${s.kind === 'int' ? 'an integer' : 'a number'}; got ${JSON.stringify(value)}`);
      }
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
        throw new BadConfigError(`--${name} must be in [${s.min ?? '-inf'}, ${s.max ?? 'inf'}]; got ${n}`);
      }
      return n;
    }
  }
}

/**
 * Hosts announce their own gRPC address; by default only public IP literals are dialled (a record
 * cannot aim a swarm's calls at a loopback or LAN service). Private swarms (`swarm`, a LAN, a
 * cluster) set this on every router, host and `ls`.
 */
export const ALLOW_PRIVATE_FLAG = {
  kind: 'boolean', default: false, env: 'SWARMPATH_ALLOW_PRIVATE_ADDRESSES',
  help: 'use hosts that announce loopback, private or named (DNS) addresses: a LAN, a cluster, one machine',
} as const satisfies FlagSpec;

/** Help text for a command from its spec. */
export function helpText(usage: string, spec: FlagSpecs): string {
  const lines = Object.entries(spec).map(([k, s]) => {
    const def = s.default === undefined ? '' : ` (default ${Array.isArray(s.default) ? s.default.join(',') : s.default})`;
    const env = s.env ? ` [env ${s.env}]` : '';
    return `  --${k}${s.kind === 'boolean' ? '' : ' <' + s.kind + '>'}  ${s.help}${def}${env}`;
  });
  return `usage: ${usage}\n${lines.join('\n')}\n`;
}

/** Splits `host:port` into parts, with a clear error naming the flag. */
export function parseHostPort(flag: string, value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  const host = i > 0 ? value.slice(0, i).replace(/^\[|\]$/g, '') : '';
  const port = Number(value.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new BadConfigError(`--${flag} must be HOST:PORT (port 0 picks a free one); got ${JSON.stringify(value)}`);
  }
  return { host, port };
}
