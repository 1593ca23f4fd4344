/**
 * What `npm start` costs on this machine (issue 10's bars), as a newcomer meets it:
 *
 *   node bench/start-check.ts [--lone N] [--gap-s S] [--idle-s S] [-- extra swarm flags]
 *
 * Starts the default `swarmpath swarm` (its own HTTP port), and prints one JSON object:
 * `ready_s` (start to the ready event), `readyz_at_ready` (GET /readyz right after it), the status
 * and seconds of N lone 32-token completions one every S seconds (`lone_p50_s`, `lone_max_s`,
 * `lone_ok`), then `idle_cores` (CPU time of the whole process tree over an idle window, per second)
 * and `rss_mib` (resident memory of every process of the tree, summed), then stops the swarm.
 * Linux only (reads /proc).
 */
import { readFileSync } from 'node:fs';
import { spawnSwarmpath } from '../router/supervisor/swarmpath-child.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const lone = arg('lone', 20);
const gapS = arg('gap-s', 6);
const idleS = arg('idle-s', 60);
const extra = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const CLK_TCK = 100;

/** Pids of `root` and all its descendants. */
function tree(root: number): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch { /* gone */ }
  }
  return out;
}
const cpuTicks = (pids: number[]) => pids.reduce((a, p) => {
  try { const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' '); return a + Number(f[11]) + Number(f[12]); } catch { return a; }
}, 0);
const rssKib = (pids: number[]) => pids.reduce((a, p) => {
  try { return a + Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { return a; }
}, 0);

const t0 = performance.now();
const swarm = spawnSwarmpath({ name: 'swarm', args: ['swarm', '--http-listen', '127.0.0.1:0', ...extra], readyTimeoutMs: 300_000, onLog: () => {} });
try {
  const ev = await swarm.ready;
  const readyS = (performance.now() - t0) / 1000;
  const http = ev.http as string;
  const readyz = (await fetch(`${http}/readyz`)).status;
  const lat: { status: number; s: number }[] = [];
  for (let i = 0; i < lone; i++) {
    const t = performance.now();
    const r = await fetch(`${http}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(60_000),
      body: JSON.stringify({ model: ev.model, prompt: `A lone request, number ${i}.`, max_tokens: 32, seed: i }),
    }).catch(() => undefined);
    await r?.text();
    lat.push({ status: r?.status ?? 0, s: (performance.now() - t) / 1000 });
    await sleep(gapS * 1000);
  }
  const pids = tree(swarm.pid);
  const c0 = cpuTicks(pids);
  const w0 = performance.now();
  await sleep(idleS * 1000);
  const idleCores = (cpuTicks(pids) - c0) / CLK_TCK / ((performance.now() - w0) / 1000);
  const sorted = lat.map((l) => l.s).sort((a, b) => a - b);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  process.stdout.write(JSON.stringify({
    swarm_flags: extra, processes: pids.length, ready_s: r3(readyS), readyz_at_ready: readyz,
    lone_ok: lat.filter((l) => l.status === 200).length, lone_n: lone, lone_statuses: [...new Set(lat.map((l) => l.status))],
    lone_p50_s: r3(sorted[Math.floor((sorted.length - 1) / 2)]), lone_max_s: r3(sorted.at(-1) ?? NaN),
    idle_cores: r3(idleCores), rss_mib: Math.round(rssKib(pids) / 1024), date: new Date().toISOString(),
  }) + '\n');
} finally {
  await swarm.stop(15_000);
}
