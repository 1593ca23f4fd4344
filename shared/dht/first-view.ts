/**
 * A joining client's first view of the swarm (routers: replica-pool.ts `warm`; `--auto` hosts' join:
 * expert-host/rebalancing/join-view.ts; the scale benchmark's discovery): provider searches for a few
 * experts only, then the records the hosts found share (Discovery.learn, record-protocol.ts), grouped
 * by the experts they list. Among 200 hosts on 2 cores a fresh router's 32 provider searches took 7 s
 * (BENCHMARKS.md, scale); two searches and one round trip to three hosts (and to hosts learnt of, while
 * experts are missing, for up to three rounds) tell it what those hosts' rebalancing views already
 * know. Experts that no record lists are left out: the caller searches for those itself. Pure logic
 * over the two calls. `learnAround` is the same asking in rounds for `swarmpath ls`.
 */
import type { HostRecord } from '../transport-types.ts';
import { keepNewest, keepNewestLive } from './host-record.ts';

export interface FirstViewInit {
  /** Experts searched for first (the first of the list). */
  probes: number;
  /** Hosts asked at a time for the records they know: first those the searches found, then hosts learnt of. */
  peers: number;
  /** Rounds of asking at most (each asks hosts not asked before), while some expert is not covered. */
  rounds: number;
}

export const FIRST_VIEW: FirstViewInit = { probes: 2, peers: 3, rounds: 3 };

/**
 * Live records of `model` by expert (only experts of `experts`, only records that list them; the
 * highest seq per host). `search` resolves an expert's live records (rejections count as none);
 * `learn` the records the given peers share, verified.
 */
export async function firstView(
  search: (expertId: string) => Promise<readonly HostRecord[]>,
  learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>,
  model: string, experts: readonly string[], init: FirstViewInit = FIRST_VIEW, now: () => number = Date.now,
): Promise<Map<string, HostRecord[]>> {
  const newest = new Map<string, HostRecord>();
  const keep = (recs: readonly HostRecord[]) => keepNewestLive(newest, recs, model, now());
  const byExpert = () => {
    const out = new Map<string, HostRecord[]>();
    for (const e of experts) {
      const recs = [...newest.values()].filter((r) => r.experts.includes(e)).sort((a, b) => a.peerId.localeCompare(b.peerId));
      if (recs.length > 0) out.set(e, recs);
    }
    return out;
  };
  const probes = experts.slice(0, Math.max(1, init.probes));
  keep((await Promise.all(probes.map((e) => search(e).catch(() => [] as HostRecord[])))).flat());
  const asked = new Set<string>();
  for (let round = 0; round < init.rounds && byExpert().size < experts.length; round++) {
    const ask = [...newest.keys()].filter((p) => !asked.has(p)).slice(0, Math.max(1, init.peers));
    if (ask.length === 0) break;
    ask.forEach((p) => asked.add(p));
    keep(await learn(ask).catch(() => [] as HostRecord[]));
  }
  return byExpert();
}

/** How many hosts a first view asked for the records they know, and how many records they shared. */
export interface LearnCounts { asked: number; learnt: number }

/** `learn`, counting into the returned `counts` (the first view's log line: routers and `--auto` hosts). */
export function countedLearn(learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>): {
  learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>; counts: LearnCounts;
} {
  const counts: LearnCounts = { asked: 0, learnt: 0 };
  return {
    counts,
    async learn(peerIds) {
      counts.asked += peerIds.length;
      const recs = await learn(peerIds);
      counts.learnt += recs.length;
      return recs;
    },
  };
}

/**
 * The hosts that the hosts in `found` know of (`swarmpath ls`: a provider search returns at most 32
 * providers, a swarm may hold hundreds): `init.peers` hosts not asked before, in rounds while a round
 * brings hosts not seen yet (`init.rounds` at most), none started at or after `until` (ms, `now()`'s
 * clock). Of one host's records the highest seq wins; `learn` verifies what it returns
 * (Discovery.learn), a failed ask counts as nothing learnt.
 */
export async function learnAround(
  found: readonly HostRecord[], learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>,
  init: Pick<FirstViewInit, 'peers' | 'rounds'> = FIRST_VIEW, until = Infinity, now: () => number = Date.now,
): Promise<HostRecord[]> {
  const newest = keepNewest(new Map<string, HostRecord>(), found);
  const keep = (recs: readonly HostRecord[]) => keepNewest(newest, recs);
  const asked = new Set<string>();
  for (let round = 0; round < init.rounds && now() < until; round++) {
    const ask = [...newest.keys()].filter((p) => !asked.has(p)).slice(0, Math.max(1, init.peers));
    if (ask.length === 0) break;
    ask.forEach((p) => asked.add(p));
    const before = newest.size;
    keep(await learn(ask).catch(() => [] as HostRecord[]));
    if (newest.size === before) break;
  }
  return [...newest.values()];
}
