/** The chaos report as a human-readable table. */
import type { ChaosReport, WindowStats } from './report.ts';

const w = (s: WindowStats) => `${String(s.requests).padStart(4)} req ${String(s.failed).padStart(3)} failed  p50 ${fmt(s.p50_ms)} p99 ${fmt(s.p99_ms)}` +
  (s.failed > 0 ? `  (${s.failed_503_retry_after} of the failures: 503 with Retry-After)` : '');
const fmt = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms`.padStart(8) : '       -');
const sec = (x: number | null) => (x === null ? 'never' : `${x} s`);

export function formatChaosReport(r: ChaosReport): string {
  const lines = [
    `requests ${r.requests}, failed ${r.failed} (statuses ${JSON.stringify(r.statuses)}), p50 ${fmt(r.p50_ms).trim()}, p99 ${fmt(r.p99_ms).trim()}, p99 during failover ${fmt(r.p99_during_failover_ms).trim()}, worst recovery ${sec(r.recovery_s)}`,
  ];
  for (const k of r.kills) {
    const who = k.victims.map((v) => `${v.pid}[${v.experts.join(',')}]`).join(' ');
    lines.push(`kill at ${(k.atMs / 1000).toFixed(1)} s (${k.kind}${k.expertId ? ' ' + k.expertId : ''}): ${who}; served again ${sec(k.served_again_s)}, recovered ${sec(k.recovery_s)}` +
      (k.restartedAtMs !== undefined ? `, restarted at ${(k.restartedAtMs / 1000).toFixed(1)} s` : ''));
    lines.push(`  before ${w(k.before)}`);
    lines.push(`  during ${w(k.during)}`);
    lines.push(`  after  ${w(k.after)}${k.after_from === 'served-again' ? '  (from served again: not back to target)' : ''}`);
  }
  if (r.determinism) {
    const d = r.determinism;
    lines.push(`determinism: ${d.identical}/${d.compared} seeded texts identical to their undisturbed replay ` +
      `(${d.interruptedIdentical}/${d.interrupted} of the generations moved to another replica mid-way)`);
  }
  return lines.join('\n') + '\n';
}
