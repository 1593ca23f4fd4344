/**
 * The view an `--auto` newcomer decides its join on (host.ts `chooseAuto`).
 *
 * A rebalancing check of a model with more than `fullViewExperts` (16) experts looks at a sample: its
 * own experts, the watched ones and 4 random others (swarm-view.ts). A newcomer serves nothing and has
 * watched nothing, so on a sampled view it would join the neediest of 4 random experts out of 32, and an
 * expert nobody serves would be found by 1 newcomer in 8. Searching every expert instead costs a
 * provider search each (7 s for 32 among 200 hosts on 2 cores, BENCHMARKS.md "scale").
 *
 * Where discovery can learn (Discovery.learn, the records protocol), the join takes a first view first
 * (shared/dht/first-view.ts, as a joining router does: two provider searches, then the records the
 * hosts found know) and looks at every expert: those the first view covered from its records, the
 * others (not known to any host asked, perhaps unserved) by a provider search each. Liveness and load
 * then come from Info probes, by swarm-view's rules. Without learn, or when the first view found no one
 * (a swarm starting), the view is a check's. The first view audits the hosts it asked (first-view.ts):
 * made-up holders shared by a hostile host, which would make a needy expert look served (SECURITY.md),
 * are dropped with everything only that host vouched for.
 */
import { answersAs, countedLearn, FIRST_VIEW, firstView, type AuditResult, type LearnCounts } from '../../shared/dht/first-view.ts';
import type { HostRecord } from '../../shared/transport-types.ts';
import type { ViewInput } from './migrator.ts';
import { createSwarmView, type SwarmViewComponents, type SwarmViewInit } from './swarm-view.ts';

export interface JoinViewComponents extends SwarmViewComponents {
  /** The records the given peers share, verified (Discovery.learn); absent: no first view. */
  learn?(peerIds: readonly string[]): Promise<readonly HostRecord[]>;
}

/**
 * What the first view found: the experts it covered of the model's, the hosts it asked, and its audit
 * (first-view.ts): hosts doubted, records dropped.
 */
export interface JoinFirstView extends LearnCounts { experts: number; covered: number; doubted: number; dropped: number }

export async function joinView(init: SwarmViewInit, c: JoinViewComponents, signal: AbortSignal): Promise<{ view: ViewInput; first?: JoinFirstView }> {
  if (!c.learn || init.experts.length <= FIRST_VIEW.probes) return { view: await createSwarmView(init, c)(signal) };
  const counted = countedLearn(c.learn.bind(c));
  const search = (e: string) => c.replicas(init.model, e, { signal, fresh: true, cachedRecords: true });
  const clock = c.clock ?? Date.now;
  // The audit (first-view.ts): a sample of what each host shared must answer Info as the peer it names.
  let audit: AuditResult = { probed: 0, doubted: 0, dropped: 0 };
  const probe = (r: HostRecord) => c.info.info(r.grpc, clock() + (init.probeTimeoutMs ?? 2000), signal).then((i) => answersAs(i.peerId, r.peerId), () => false);
  const seed = await firstView(search, counted.learn, init.model, init.experts, FIRST_VIEW, c.clock,
    { probe, random: c.random, onAudit: (a) => { audit = a; } });
  signal.throwIfAborted();
  const first: JoinFirstView = { experts: init.experts.length, covered: seed.size, ...counted.counts, doubted: audit.doubted, dropped: audit.dropped };
  if (seed.size === 0) return { view: await createSwarmView(init, c)(signal), first };
  const seeded = createSwarmView({ ...init, fullViewExperts: Infinity }, {
    ...c,
    replicas: (model, e, opts) => {
      const known = seed.get(e);
      return known ? Promise.resolve([...known]) : c.replicas(model, e, opts);
    },
  });
  return { view: await seeded(signal), first };
}
