/**
 * Child processes of the benchmark (hosts, the echo server): spawn, wait for the one `ready` event
 * on stdout (SPEC.md section 2), read resident memory, stop with SIGTERM (SIGKILL after a grace), or
 * kill with SIGKILL. Stderr is kept (last 4 KiB) for error messages.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ReadyChild {
  readonly pid: number;
  readonly proc: ChildProcess;
  /** The ready event's fields. */
  readonly ready: Record<string, unknown>;
  /** Resident memory now, MiB (NaN when the process is gone). */
  rssMb(): number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once. */
  kill(): void;
  readonly exited: Promise<number | null>;
}

/** Spawns `cmd args` and resolves once it printed `{"event":"ready",…}`; rejects on exit or after `timeoutMs`. */
export function spawnReady(cmd: string, args: readonly string[], opts: { name: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ReadyChild> {
  // Benchmark swarms run on loopback: their processes must dial each other's 127.0.0.1 addresses.
  const env = { ...(opts.env ?? process.env), SWARMPATH_ALLOW_PRIVATE_ADDRESSES: '1' };
  const proc = spawn(cmd, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4096); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return new Promise<ReadyChild>((resolve, reject) => {
    let buf = '';
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`${opts.name} not ready after ${opts.timeoutMs ?? 60000} ms: ${stderr}`)), opts.timeoutMs ?? 60000);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(err);
    };
    void exited.then((code) => fail(new Error(`${opts.name} exited (${code}) before ready: ${stderr}`)));
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let ev: Record<string, unknown>;
        try { ev = JSON.parse(line); } catch { continue; }
        if (ev.event !== 'ready' || settled) continue;
        settled = true;
        clearTimeout(timer);
        resolve(child(proc, ev, exited));
      }
    });
  });
}

function child(proc: ChildProcess, ready: Record<string, unknown>, exited: Promise<number | null>): ReadyChild {
  const pid = proc.pid!;
  return {
    pid, proc, ready, exited,
    rssMb: () => rssMbOf(pid),
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    kill() { proc.kill('SIGKILL'); },
  };
}

/** Resident set size of process `pid` in MiB, from /proc (NaN when unreadable). */
export function rssMbOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024 * 10) / 10 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) process `pid` has used, ms, from /proc (NaN when unreadable). */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime in clock ticks (100 Hz)
  } catch {
    return NaN;
  }
}
