/**
 * Runs `swarmpath host` as a child process for integration tests: waits for its ready event, keeps
 * its stderr, and stops it with a signal, resolving the exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/swarmpath.js', import.meta.url));

export interface ReadyEvent {
  event: 'ready';
  role: string;
  peerId: string;
  multiaddrs: string[];
  grpc: string;
  experts: string[];
  /** The device the experts run on (`cpu`, or `cuda` where it loaded). */
  device?: string;
}

export interface HostProcess {
  proc: ChildProcess;
  ready: ReadyEvent;
  stderr(): string;
  /** Stdout lines other than the ready event. */
  events(): string[];
  /** Resolves the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Sends `signal` and resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the host command with `args`; rejects with its stderr when it exits before ready. */
export function spawnHost(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<HostProcess> {
  const proc = spawn(process.execPath, [BIN, 'host', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let err = '';
  let out = '';
  const lines: string[] = [];
  proc.stderr!.on('data', (b) => { err += b; });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`host not ready in time:\n${err}`)); }, opts.timeoutMs ?? 30_000);
    proc.stdout!.on('data', (b) => {
      out += b;
      let i;
      while ((i = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        lines.push(line);
        let ev: ReadyEvent | undefined;
        try { ev = JSON.parse(line); } catch { /* not JSON */ }
        if (ev?.event === 'ready') {
          clearTimeout(timer);
          resolve({
            proc, ready: ev, exited,
            stderr: () => err,
            events: () => lines.filter((l) => l !== line),
            stop(signal = 'SIGTERM') { if (proc.exitCode === null) proc.kill(signal); return exited; },
          });
        }
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(Object.assign(new Error(`host exited with ${code} before ready:\n${err}`), { code, stderr: err })); });
  });
}

/** Runs the host command to completion (for commands that must fail): exit code and stderr. */
export function runHostToExit(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const proc = spawn(process.execPath, [BIN, 'host', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stderr.on('data', (b) => { err += b; });
  proc.stdout.on('data', (b) => { out += b; });
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, stderr: err, stdout: out }); });
  });
}
