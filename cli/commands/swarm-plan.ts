/**
 * Which experts each pinned host process of `swarmpath swarm` serves. Pure: no I/O.
 *
 * With E experts, R replicas and at most K experts per host, there are H = max(R, ceil(E*R/K)) hosts.
 * Expert e (manifest order) gets a start host s(e) = floor(e*H/E) and its replicas go to the R
 * consecutive hosts s(e), s(e)+1, …, s(e)+R-1 (mod H). Why this holds:
 *  - the replicas of one expert are on distinct hosts, because H >= R;
 *  - host loads differ by at most 1: the load of host h is the number of starts in the window of R
 *    hosts ending at h, ceil((h+1)E/H) - ceil((h+1-R)E/H) (also when the window wraps, E being an
 *    integer), which is floor or ceil of R*E/H — and so at most K;
 *  - the replicas of neighbouring experts overlap on one host, not on all of them (the same chain as
 *    `(e + r) mod H` when H = E), so losing two hosts loses few experts.
 * `(e + r) mod H` alone is not balanced when E is not a multiple of H: E=6, R=2, H=4 gives loads
 * 3, 4, 3, 2.
 */

/** The experts of each host, in manifest order; `hosts[i]` is the (i+1)-th host process. */
export function planHosts(experts: readonly string[], replicas: number, expertsPerHost: number): string[][] {
  const E = experts.length;
  const R = replicas;
  const K = expertsPerHost;
  if (!Number.isInteger(R) || R < 1) throw new RangeError(`replicas must be an integer >= 1, got ${R}`);
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`expertsPerHost must be an integer >= 1, got ${K}`);
  if (E === 0) return [];
  const H = hostCount(E, R, K);
  const hosts: string[][] = Array.from({ length: H }, () => []);
  for (let e = 0; e < E; e++) {
    const start = Math.floor((e * H) / E);
    for (let r = 0; r < R; r++) hosts[(start + r) % H].push(experts[e]);
  }
  // Each host's list in manifest order (the loop above appends wrapped replicas out of order).
  const order = new Map(experts.map((id, i) => [id, i]));
  for (const h of hosts) h.sort((a, b) => (order.get(a) as number) - (order.get(b) as number));
  return hosts;
}

/** H = max(R, ceil(E*R/K)): enough hosts for K experts each, and at least one per replica. */
export function hostCount(experts: number, replicas: number, expertsPerHost: number): number {
  return Math.max(replicas, Math.ceil((experts * replicas) / expertsPerHost));
}
