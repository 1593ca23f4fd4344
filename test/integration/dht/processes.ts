/** Child processes of the DHT integration tests: `swarmpath` commands and the fake host script. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, '..', '..', '..');
export const CLI = join(ROOT, 'cli', 'main.ts');
export const FAKE_HOST = join(here, 'fake-host.ts');

export interface Child {
  proc: ChildProcess;
  /** The ready event (first stdout line that is `{"event":"ready",…}`). */
  ready: Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
  stderr(): string;
}

/** Starts `node script args…` with stdout/stderr captured; env without SWARMPATH_BOOTSTRAP. */
export function startChild(script: string, args: string[]): Child {
  const env = { ...process.env };
  delete env.SWARMPATH_BOOTSTRAP;
  const proc = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (const line of out.split('\n').slice(0, -1)) {
        try {
          const ev = JSON.parse(line) as Record<string, unknown>;
          if (ev.event === 'ready') resolve(ev);
        } catch { /* not JSON */ }
      }
    });
    void exited.then((code) => reject(new Error(`${script} exited (${code}) before ready: ${err.slice(-2000)}`)));
  });
  ready.catch(() => {});
  return { proc, ready, exited, stderr: () => err };
}

/** Runs `node script args…` to completion; resolves its exit code, stdout and stderr. */
export function runToEnd(script: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.SWARMPATH_BOOTSTRAP;
    const proc = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    proc.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${args.join(' ')} ran over ${timeoutMs} ms: ${stderr.slice(-2000)}`)); }, timeoutMs);
    proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: performance.now() - start }); });
  });
}

/** Kills whatever is still running (test cleanup). */
export function killAll(children: readonly Child[]): void {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
}
