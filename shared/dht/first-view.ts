/**
 * A joining client's first view of the swarm (routers: replica-pool.ts `warm`; `--auto` hosts' join:
 * expert-host/rebalancing/join-view.ts; the scale benchmark's discovery): provider searches for a few
 * experts only, then the records the hosts found share (Discovery.learn, record-protocol.ts), grouped
 * by the experts they list. Among 200 hosts on 2 cores a fresh router's 32 provider searches took 7 s
 * (BENCHMARKS.md, scale); two searches and one round trip to three hosts (and to hosts learnt of, while
 * experts are missing, for up to three rounds) tell it what those hosts' rebalancing views already
 * know. Experts that no record lists are left out: the caller searches for those itself. Pure logic
 * over the two calls. `learnAround` is the same asking in rounds for `swarmpath ls`.
 *
 * Audit (SECURITY.md, "Records shared by other hosts"): a shared record is signed by the key of the
 * host it names, but keys cost nothing, so a hostile peer can hand out records of hosts that do not
 * exist, enough to make every expert look served. Honest hosts share only records they corroborated
 * (discovery.ts), so made-up ones come from the peer that made them. With a `probe`, each peer asked
 * is audited on the records only it vouched for (not found by the searches, not its own): up to
 * `audit` of them, drawn at random, get a liveness call; a peer most of whose sampled records do not
 * answer as the host they name is doubted, and the records only doubted peers vouched for are
 * dropped. An honest host's records are of hosts it found live, so it passes unless most of its
 * sample died since; a liar that mixes a few real records into many made-up ones is caught by the
 * draw, one that mixes in only a few made-up ones adds only those.
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
  /** Records probed per peer asked, at most (the audit, with a `probe`; 0: none). */
  audit: number;
}

export const FIRST_VIEW: FirstViewInit = { probes: 2, peers: 3, rounds: 3, audit: 3 };

/** How the audit checks a record: whether its host answers, as the peer the record names. */
export interface FirstViewAudit {
  /** Resolves true when the record's host answers a liveness call as `record.peerId`; never rejects. */
  probe(record: HostRecord): Promise<boolean>;
  /** Uniform in [0, 1) (default Math.random). */
  random?: () => number;
  /** Called once with what the audit did. */
  onAudit?(result: AuditResult): void;
}

/**
 * Whether an Info answer naming `answered` is from the host of a record of `peerId`: the same peer, or
 * one that does not say (a host without a DHT node). The rule of the audit and of rebalancing's probes
 * (expert-host/rebalancing/swarm-view.ts).
 */
export function answersAs(answered: string, peerId: string): boolean {
  return answered === '' || answered === peerId;
}

/** What an audit did: records probed, peers doubted, records dropped. */
export interface AuditResult { probed: number; doubted: number; dropped: number }

/**
 * Live records of `model` by expert (only experts of `experts`, only records that list them; the
 * highest seq per host). `search` resolves an expert's live records (rejections count as none);
 * `learn` the records the given peers share, verified.
 */
export async function firstView(
  search: (expertId: string) => Promise<readonly HostRecord[]>,
  learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>,
  model: string, experts: readonly string[], init: Partial<FirstViewInit> = FIRST_VIEW, now: () => number = Date.now,
  audit?: FirstViewAudit,
): Promise<Map<string, HostRecord[]>> {
  const { probes: nProbes, peers, rounds, audit: perPeer } = { ...FIRST_VIEW, ...init };
  const newest = new Map<string, HostRecord>();
  const keep = (recs: readonly HostRecord[]) => keepNewestLive(newest, recs, model, now());
  /** Peers that vouched for each host's record (only learnt ones; searched hosts are not audited). */
  const vouchers = new Map<string, Set<string>>();
  const byExpert = () => {
    const out = new Map<string, HostRecord[]>();
    for (const e of experts) {
      const recs = [...newest.values()].filter((r) => r.experts.includes(e)).sort((a, b) => a.peerId.localeCompare(b.peerId));
      if (recs.length > 0) out.set(e, recs);
    }
    return out;
  };
  const searched = (await Promise.all(experts.slice(0, Math.max(1, nProbes)).map((e) => search(e).catch(() => [] as HostRecord[])))).flat();
  keep(searched);
  const found = new Set(searched.map((r) => r.peerId));
  const asked = new Set<string>();
  for (let round = 0; round < rounds && byExpert().size < experts.length; round++) {
    const ask = [...newest.keys()].filter((p) => !asked.has(p)).slice(0, Math.max(1, peers));
    if (ask.length === 0) break;
    ask.forEach((p) => asked.add(p));
    // One peer a call, so that each record is known by who vouched for it.
    await Promise.all(ask.map(async (from) => {
      const recs = await learn([from]).catch(() => [] as HostRecord[]);
      // A host that hands out its own record answered as itself: nothing to audit about it.
      if (recs.some((r) => r.peerId === from)) { found.add(from); vouchers.delete(from); }
      for (const r of recs) {
        if (r.peerId === from || found.has(r.peerId)) continue;
        let by = vouchers.get(r.peerId);
        if (!by) vouchers.set(r.peerId, by = new Set());
        by.add(from);
      }
      keep(recs);
    }));
  }
  if (audit && perPeer > 0) await auditVouchers(newest, vouchers, perPeer, audit);
  return byExpert();
}

/** Drops the records that only doubted peers vouched for (see the file comment). */
async function auditVouchers(newest: Map<string, HostRecord>, vouchers: ReadonlyMap<string, ReadonlySet<string>>, perPeer: number,
  audit: FirstViewAudit): Promise<void> {
  const random = audit.random ?? Math.random;
  /** Per peer asked, the hosts only it vouched for. */
  const onlyBy = new Map<string, string[]>();
  for (const [host, by] of vouchers) {
    if (by.size !== 1 || !newest.has(host)) continue;
    const [v] = by;
    let hosts = onlyBy.get(v);
    if (!hosts) onlyBy.set(v, hosts = []);
    hosts.push(host);
  }
  const probes = new Map<string, Promise<boolean>>();
  const probe = (host: string): Promise<boolean> => {
    let p = probes.get(host);
    if (!p) probes.set(host, p = audit.probe(newest.get(host)!).catch(() => false));
    return p;
  };
  const doubted = new Set<string>();
  await Promise.all([...onlyBy].map(async ([v, hosts]) => {
    const sample = draw(hosts, perPeer, random);
    const alive = (await Promise.all(sample.map(probe))).filter(Boolean).length;
    if (2 * alive < sample.length) doubted.add(v);
  }));
  let dropped = 0;
  for (const [host, by] of vouchers) {
    if (newest.has(host) && [...by].every((v) => doubted.has(v))) { newest.delete(host); dropped++; }
  }
  audit.onAudit?.({ probed: probes.size, doubted: doubted.size, dropped });
}

/** `n` of `xs` drawn without replacement (all of them when there are at most `n`). */
function draw<T>(xs: readonly T[], n: number, random: () => number): T[] {
  const a = [...xs];
  const k = Math.min(n, a.length);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (a.length - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k);
}

/** How many hosts a first view asked for the records they know, and of how many hosts they shared records. */
export interface LearnCounts { asked: number; learnt: number }

/** `learn`, counting into the returned `counts` (the first view's log line: routers and `--auto` hosts). */
export function countedLearn(learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>): {
  learn: (peerIds: readonly string[]) => Promise<readonly HostRecord[]>; counts: LearnCounts;
} {
  const counts: LearnCounts = { asked: 0, learnt: 0 };
  const hosts = new Set<string>();
  return {
    counts,
    async learn(peerIds) {
      counts.asked += peerIds.length;
      const recs = await learn(peerIds);
      for (const r of recs) hosts.add(r.peerId);
      counts.learnt = hosts.size;
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
