/**
 * A discrete-event simulation of many hosts running the rebalancing decision independently, for the
 * property tests: each `--auto` host checks at jittered intervals on a view of the swarm that is
 * up to `maxLagMs` stale, and migrates as the real migrator does (fetch + load for a random time,
 * confirm the move on a fresh view, announce both experts, wait a settle time, then release the
 * old one only when decideRelease allows, else retry).
 * The decision, release rule and jitter are the real functions; only time and the DHT are simulated.
 */
import { decideRebalance, moveStillWorthwhile } from '../../../expert-host/rebalancing/decide.ts';
import { decideFinish } from '../../../expert-host/rebalancing/finish.ts';
import { jitteredDelayMs } from '../../../expert-host/rebalancing/schedule.ts';
import type { HostRecord } from '../../../shared/transport-types.ts';
import { prng, rec } from './fixtures.ts';

export interface SimInit {
  seed: number;
  experts: string[];
  /** Hosts started with `--expert` per expert, present from t = 0. */
  fixed: number[];
  /** Whether those hosts run the rebalancer too (default true: over-provisioned or rescue moves). */
  fixedMigrate?: boolean;
  /** Auto hosts, each starting at a random time in [0, startSpreadMs). */
  auto: number;
  /** Expert every auto host already serves at t = 0 (default none: newcomers). */
  autoInitial?: string;
  startSpreadMs?: number;
  targetReplicas: number;
  /** Steady demand per expert; each check sees it with ±noise relative noise. */
  demand?: Map<string, number>;
  /** At `at`, the steady demand becomes `demand`. */
  demandShift?: { at: number; demand: Map<string, number> };
  noise?: number;
  intervalMs?: number;
  jitter?: number;
  /** A migration (fetch + verify + load) takes a uniform time in [min, max] ms. */
  moveMs?: [number, number];
  maxLagMs?: number;
  /** Wait between announcing the new expert and deciding the release (default 2 * maxLagMs + 1). */
  settleMs?: number;
  /** At each `at`, every host serving `expertId` is killed (SIGKILL: gone at once). */
  kills?: { at: number; expertId: string }[];
  endMs: number;
}

export interface SimEvent { t: number; peerId: string; kind: 'join' | 'add' | 'release' | 'hold' | 'abort' | 'kill'; from?: string; to?: string }

export interface SimResult {
  events: SimEvent[];
  /** Final experts per live host. */
  final: Map<string, string[]>;
  /** Each time an expert had no live replica: [expert, from, until (Infinity if never again)]. */
  gaps: { expertId: string; from: number; until: number }[];
  /** Sequence of single experts each auto host settled on, in order. */
  homes: Map<string, string[]>;
  /** First time every expert was served. */
  coveredAt: number;
  records(): HostRecord[];
}

interface Host { peerId: string; experts: string[]; auto: boolean; alive: boolean; busy: boolean }
interface Timed { t: number; seq: number; run: () => void }

export function simulate(init: SimInit): SimResult {
  const rand = prng(init.seed);
  const interval = init.intervalMs ?? 10_000;
  const jitter = init.jitter ?? 0.5;
  const [moveMin, moveMax] = init.moveMs ?? [1000, 4000];
  const maxLag = init.maxLagMs ?? 500;
  const queue: Timed[] = [];
  let seq = 0;
  let now = 0;
  const at = (t: number, run: () => void) => { queue.push({ t, seq: seq++, run }); };
  const hosts = new Map<string, Host>();
  /** Published records: per peer, its history of (time, experts, alive). */
  const log = new Map<string, { t: number; experts: string[]; alive: boolean; auto: boolean }[]>();
  const events: SimEvent[] = [];
  const homes = new Map<string, string[]>();
  /** The record's `auto` says whether the host may migrate. */
  const migrates = (h: Host) => h.auto || (init.fixedMigrate ?? true);
  const publish = (h: Host) => { log.get(h.peerId)!.push({ t: now, experts: [...h.experts], alive: h.alive, auto: migrates(h) }); };
  const view = (): HostRecord[] => {
    const t = now - rand() * maxLag;
    const out: HostRecord[] = [];
    for (const [peerId, entries] of log) {
      let last;
      for (const e of entries) if (e.t <= t) last = e;
      if (last && last.alive && last.experts.length > 0) out.push(rec(peerId, last.experts, { auto: last.auto }));
    }
    return out;
  };
  const demandNow = () => new Map([...((init.demandShift && now >= init.demandShift.at ? init.demandShift.demand : init.demand) ?? new Map())].map(([e, d]) => [e, d * (1 + (init.noise ?? 0) * (2 * rand() - 1))]));
  const settle = (h: Host) => {
    const seq = homes.get(h.peerId)!;
    if (h.experts.length === 1 && seq[seq.length - 1] !== h.experts[0]) seq.push(h.experts[0]);
  };

  const check = (h: Host) => {
    if (!h.alive) return;
    if (!h.busy) {
      const d = decideRebalance({ experts: init.experts, hosts: view(), self: { peerId: h.peerId, experts: h.experts }, targetReplicas: init.targetReplicas, demand: demandNow(), random: rand() });
      if (d.type === 'join') startJoin(h, d.expertId);
      if (d.type === 'move') startMove(h, d.from, d.to);
    }
    at(now + jitteredDelayMs(interval, jitter, rand()), () => check(h));
  };
  const startJoin = (h: Host, to: string) => {
    h.busy = true;
    at(now + moveMin + rand() * (moveMax - moveMin), () => {
      if (!h.alive) return;
      h.experts = [to]; h.busy = false; publish(h); settle(h);
      events.push({ t: now, peerId: h.peerId, kind: 'join', to });
    });
  };
  const startMove = (h: Host, from: string, to: string) => {
    h.busy = true;
    at(now + moveMin + rand() * (moveMax - moveMin), () => {
      if (!h.alive) return;
      const fresh = { experts: init.experts, hosts: view(), self: { peerId: h.peerId, experts: h.experts }, targetReplicas: init.targetReplicas, demand: demandNow() };
      if (!moveStillWorthwhile(fresh, from, to)) {
        h.busy = false;
        events.push({ t: now, peerId: h.peerId, kind: 'abort', from, to });
        return;
      }
      h.experts = [...h.experts, to]; publish(h);
      events.push({ t: now, peerId: h.peerId, kind: 'add', from, to });
      at(now + (init.settleMs ?? 2 * maxLag + 1), () => tryRelease(h, from, to));
    });
  };
  const tryRelease = (h: Host, from: string, to: string) => {
    if (!h.alive) return;
    const d = decideFinish({ experts: init.experts, hosts: view(), selfPeerId: h.peerId, serving: h.experts, from, to, targetReplicas: init.targetReplicas, demand: demandNow() });
    if (d.type === 'release') return finish(h, from, 'release', to);
    if (d.type === 'abort') return finish(h, to, 'abort', from);
    events.push({ t: now, peerId: h.peerId, kind: 'hold', from, to });
    at(now + jitteredDelayMs(interval, jitter, rand()), () => tryRelease(h, from, to));
  };
  const finish = (h: Host, drop: string, kind: 'release' | 'abort', other: string) => {
    h.experts = h.experts.filter((e) => e !== drop); h.busy = false; publish(h); settle(h);
    events.push({ t: now, peerId: h.peerId, kind, from: kind === 'release' ? drop : other, to: kind === 'release' ? other : drop });
  };

  init.experts.forEach((e, i) => {
    for (let n = 0; n < init.fixed[i]; n++) {
      const h: Host = { peerId: `fixed-${e}-${n}`, experts: [e], auto: false, alive: true, busy: false };
      hosts.set(h.peerId, h); log.set(h.peerId, []); homes.set(h.peerId, [e]); publish(h);
      if (init.fixedMigrate ?? true) at(jitteredDelayMs(interval, jitter, rand()), () => check(h));
    }
  });
  for (let n = 0; n < init.auto; n++) {
    const h: Host = { peerId: `auto-${String(n).padStart(3, '0')}`, experts: init.autoInitial ? [init.autoInitial] : [], auto: true, alive: true, busy: false };
    hosts.set(h.peerId, h); log.set(h.peerId, []); homes.set(h.peerId, [...h.experts]);
    if (init.autoInitial) publish(h);
    at(rand() * (init.startSpreadMs ?? 5000), () => check(h));
  }
  for (const k of init.kills ?? []) {
    at(k.at, () => {
      for (const h of hosts.values()) {
        if (h.alive && h.experts.includes(k.expertId)) { h.alive = false; publish(h); events.push({ t: now, peerId: h.peerId, kind: 'kill', from: k.expertId }); }
      }
    });
  }

  const gaps: SimResult['gaps'] = [];
  const open = new Map<string, number>();
  let coveredAt = Infinity;
  const served = (e: string) => [...hosts.values()].some((h) => h.alive && h.experts.includes(e));
  while (queue.length > 0) {
    queue.sort((a, b) => a.t - b.t || a.seq - b.seq);
    const next = queue.shift()!;
    if (next.t > init.endMs) break;
    now = next.t;
    next.run();
    const all = init.experts.every(served);
    if (coveredAt === Infinity && all) coveredAt = now;
    if (coveredAt === Infinity) continue;
    for (const e of init.experts) {
      const s = served(e);
      if (!s && !open.has(e)) open.set(e, now);
      if (s && open.has(e)) { gaps.push({ expertId: e, from: open.get(e)!, until: now }); open.delete(e); }
    }
  }
  for (const [e, from] of open) gaps.push({ expertId: e, from, until: Infinity });
  const final = new Map([...hosts.values()].filter((h) => h.alive).map((h) => [h.peerId, h.experts]));
  return { events, final, gaps, homes, coveredAt, records: () => [...hosts.values()].filter((h) => h.alive && h.experts.length > 0).map((h) => rec(h.peerId, h.experts, { auto: migrates(h) })) };
}

/** Replicas per expert in a final state. */
export function replicaCounts(experts: string[], final: Map<string, string[]>): number[] {
  return experts.map((e) => [...final.values()].filter((x) => x.includes(e)).length);
}
