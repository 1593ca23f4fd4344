/**
 * One `swarmpath <command>` child process, as `swarmpath swarm` and the tests run them: spawned on
 * this Node, its stdout read line by line for events (the first `ready` event resolves `ready`), its
 * stderr forwarded line by line (the child's JSON log lines as they are: they carry its name as `proc`;
 * any other line, a crash's stack say, with a `[name]` prefix), and a stop that sends SIGTERM, then SIGKILL after a
 * grace. Never hangs: `ready` rejects when the child exits first or after `readyTimeoutMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** cli/main.ts of this checkout. */
export const CLI_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'main.ts');

export type ReadyEvent = Record<string, unknown> & { event: 'ready'; role: string };

export interface ChildInit {
  /** Name in logs, e.g. `host L0.1#2`. */
  name: string;
  /** Arguments after `swarmpath`, e.g. ['host', '--model', DIR, '--expert', 'L0.1']. */
  args: string[];
  /** Longest wait for the ready event, ms (default 120000). */
  readyTimeoutMs?: number;
  /** Where stderr lines go (default: this process's stderr; non-JSON lines prefixed with the name). */
  onLog?(line: string): void;
  /** Every stdout event line (parsed), including ready. */
  onEvent?(ev: Record<string, unknown>): void;
  env?: NodeJS.ProcessEnv;
}

export interface SwarmpathChild {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** The ready event. */
  readonly ready: Promise<ReadyEvent>;
  /** Resolves with the exit code or signal once the child has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnSwarmpath(init: ChildInit): SwarmpathChild {
  // The IPC channel tells the child when this process is gone (cli/main.ts watchSupervisor).
  const child = spawn(process.execPath, [CLI_MAIN, ...init.args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...(init.env ?? process.env), SWARMPATH_SUPERVISED: '1', SWARMPATH_PROCESS: init.name },
  });
  child.channel?.unref();
  let alive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { alive = false; resolve({ code, signal }); });
    child.once('error', () => { alive = false; resolve({ code: null, signal: null }); });
  });
  const log = init.onLog ?? ((line: string) => process.stderr.write(line.startsWith('{') ? `${line}\n` : `[${init.name}] ${line}\n`));
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', log);
  const ready = new Promise<ReadyEvent>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${init.name}: no ready event after ${init.readyTimeoutMs ?? 120_000} ms`)),
      init.readyTimeoutMs ?? 120_000);
    timer.unref();
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let ev: Record<string, unknown>;
      try { ev = JSON.parse(line); } catch { log(`(stdout) ${line}`); return; }
      init.onEvent?.(ev);
      if (ev.event === 'ready') { clearTimeout(timer); resolve(ev as ReadyEvent); }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${init.name} exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
  ready.catch(() => {});
  return {
    name: init.name,
    pid: child.pid ?? -1,
    process: child,
    ready,
    exited,
    get alive() { return alive; },
    async stop(graceMs = 10_000) {
      if (!alive) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (alive) child.kill('SIGKILL'); }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
