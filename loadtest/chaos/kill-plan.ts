/**
 * The chaos schedule, pure and seeded: when to kill, whom, and when to restart. Kills come at
 * jittered intervals after a warm-up and stop a cool-down before the end, so that the report can
 * show latency before, during and after every kill. Two kinds: `one` kills one random live host;
 * `expert` kills every live host serving one expert (the last-replica case). Each killed host is
 * restarted, as it was started (same expert, or --auto), after a random delay.
 */
import { mulberry32 } from '../../shared/model/rng.ts';

export type KillKind = 'one' | 'expert';

export interface PlannedKill {
  atMs: number;
  kind: KillKind;
  /** Uniform draws that pick the victim(s) at run time, when the live hosts are known. */
  pick: number;
  /** Delay from the kill to the restart of its victims, ms (Infinity: never). */
  restartAfterMs: number;
  /** `expert` kills: this expert instead of a random one (tests). */
  expertId?: string;
}

export interface ChaosPlanInit {
  seed: number;
  durationMs: number;
  /** No kill before this, ms. */
  warmupMs: number;
  /** No kill in the last `cooldownMs`. */
  cooldownMs: number;
  /** Mean time between kills, ms, jittered ±50 %. */
  killEveryMs: number;
  /** Share of kills that take every replica of one expert (0..1). */
  expertKillShare: number;
  /** Restart delay range, ms; [Infinity, Infinity] never restarts. */
  restartAfterMs: [number, number];
}

/** The kills of a run, in time order. */
export function planChaos(init: ChaosPlanInit): PlannedKill[] {
  const rand = mulberry32(init.seed);
  const out: PlannedKill[] = [];
  const end = init.durationMs - init.cooldownMs;
  for (let t = init.warmupMs + rand() * init.killEveryMs * 0.5; t < end; t += init.killEveryMs * (0.5 + rand())) {
    const [lo, hi] = init.restartAfterMs;
    out.push({
      atMs: Math.round(t),
      kind: rand() < init.expertKillShare ? 'expert' : 'one',
      pick: rand(),
      restartAfterMs: Number.isFinite(lo) ? Math.round(lo + rand() * (hi - lo)) : Infinity,
    });
  }
  return out;
}

/** A host as the executor knows it. */
export interface LiveHost {
  pid: number;
  experts: readonly string[];
}

/**
 * The victims of a planned kill among `live` hosts: one host (`pick` indexes them), or every host
 * serving the expert that `pick` indexes (among experts served now). Empty when nothing is live.
 */
export function pickVictims<H extends LiveHost>(kill: Pick<PlannedKill, 'kind' | 'pick' | 'expertId'>, live: readonly H[]): { victims: H[]; expertId?: string } {
  if (live.length === 0) return { victims: [] };
  if (kill.kind === 'one') return { victims: [live[Math.min(live.length - 1, Math.floor(kill.pick * live.length))]] };
  const experts = [...new Set(live.flatMap((h) => h.experts))].sort();
  if (experts.length === 0) return { victims: [] };
  const expertId = kill.expertId ?? experts[Math.min(experts.length - 1, Math.floor(kill.pick * experts.length))];
  return { victims: live.filter((h) => h.experts.includes(expertId)), expertId };
}

/** Most rounds of `killUntilUnserved` after the first kill. */
export const CONFIRM_ROUNDS = 5;

/**
 * An `expert` kill carried through and confirmed. SIGKILLs `victims`, waits until they are gone
 * (`gone`: their port refuses connections; a process a few ms into its SIGKILL still answers Info),
 * then asks the other live hosts (`lookup`) what they serve; any that serve `expertId` are killed
 * too, until a round finds none (at most CONFIRM_ROUNDS more). Why both:
 * - hosts re-host a lost expert from their local package 0.3-0.5 s after the kill, so the gap can
 *   fall between two rounds of the replica watch (every 250 ms, slower under load), which then
 *   never saw the expert unserved; this round's answer is the gap, confirmed;
 * - a host whose move into the expert was in flight when the victims were picked (fetching and
 *   loading its shard; Info does not show that) serves it moments later: "every replica" missed one.
 * Returns every host killed and when (`now()`) the confirming round began (the victims were gone by
 * then and every other host answered after it); no `unservedAtMs` when a victim did not go or the
 * rounds ran out.
 */
export async function killUntilUnserved<H extends LiveHost>(init: {
  expertId: string;
  victims: readonly H[];
  /** What each live host not yet killed serves now (hosts that do not answer are left out). */
  lookup(): Promise<readonly H[]>;
  kill(h: H): void;
  /** Resolves true once a killed host no longer answers, false if it still does after a while. */
  gone(h: H): Promise<boolean>;
  now(): number;
}): Promise<{ killed: H[]; unservedAtMs?: number }> {
  const killed = new Set<H>();
  let next: readonly H[] = init.victims;
  for (let round = 0; round <= CONFIRM_ROUNDS; round++) {
    for (const h of next) { init.kill(h); killed.add(h); }
    if (!(await Promise.all(next.map((h) => init.gone(h)))).every(Boolean)) break;
    const askedAt = init.now();
    next = (await init.lookup()).filter((h) => !killed.has(h) && h.experts.includes(init.expertId));
    if (next.length === 0) return { killed: [...killed], unservedAtMs: askedAt };
  }
  return { killed: [...killed] };
}

/** mulberry32 (shared/model/rng.ts), re-exported for the chaos planner's callers. */
export { mulberry32 };
