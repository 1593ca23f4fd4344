/**
 * What the dashboard shows of the router's recent traffic, kept in memory: one-second buckets over
 * the last `windowS` seconds (default 10 minutes) of generation requests (count, latency histogram,
 * errors by code), tokens and chosen paths; recent failovers and host moves (./host-directory.ts);
 * the latest probe result and the latest call outcome of each replica. Pure: the clock is injected, nothing is timed, nothing
 * does I/O, and memory is bounded whatever the traffic (a bucket per second, capped event lists,
 * LRU maps). Telemetry never fails inference: recording does not throw.
 *
 * Latency percentiles count successful requests only (an instant 400 says nothing of the swarm's
 * speed); the request and error counts count every generation request.
 */
import { LRUCache } from 'lru-cache';
import { hostDirectory, type HostSighting, type MoveEvent } from './host-directory.ts';
import { LatencyHistogram } from './latency-histogram.ts';

export type { HostSighting, MoveEvent } from './host-directory.ts';

export interface StatsCollectorInit {
  /** Seconds of history (default 600). */
  windowS?: number;
  /** Seconds per point of the charts' series (default 10; divides `windowS`). */
  pointS?: number;
  /** Failovers and moves kept at most, each (default 100). */
  maxEvents?: number;
}

export type ProbeResult = 'ok' | 'mismatch' | 'error';

export interface FailoverEvent {
  at: number;
  expert: string;
  /** The error code that moved the session. */
  reason: string;
}

/** Probe results of one replica (expert on host): the latest and counts. */
export interface TrustRecord {
  last: ProbeResult;
  at: number;
  ok: number;
  mismatch: number;
  error: number;
}

/** The outcome of the router's latest calls to one replica (expert on host), ms since the epoch. */
export interface ReplicaHealth {
  lastOkAt?: number;
  lastFailAt?: number;
  /** Error code of the latest failure. */
  lastError?: string;
}

export interface WindowFigures {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Failed requests by error code. */
  errors: Record<string, number>;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface StatsSnapshot {
  now: number;
  windowS: number;
  /** Charts: one point per `pointS` seconds, oldest first; `start` is the first point's start, ms. */
  series: {
    pointS: number; start: number;
    requests: number[]; completionTokens: number[]; errors: number[]; p50Ms: (number | null)[]; p95Ms: (number | null)[];
  };
  /** The last 60 s, with rates over the part of it the router has been up. */
  lastMinute: WindowFigures & { requestsPerS: number; tokensPerS: number };
  /** The whole window. */
  window: WindowFigures;
  /** Requests per path over the window, most used first. */
  paths: { path: string[]; count: number }[];
  /** Newest first, within the window. */
  failovers: FailoverEvent[];
  moves: MoveEvent[];
}

export interface StatsCollector {
  /** A generation request ended with `status` after `durationMs`; `errorCode` when it failed. */
  requestEnded(r: { status: number; durationMs: number; errorCode?: string }): void;
  /** Tokens of a finished generation. */
  tokens(prompt: number, completion: number): void;
  /** The router chose `path` for a request. */
  pathChosen(path: readonly string[]): void;
  failover(expert: string, reason: string): void;
  /** A replica's probe result (router/replica-verification.ts). */
  probed(expert: string, peerId: string, result: ProbeResult): void;
  /** A stage call to a replica succeeded, or failed with `errorCode`. */
  called(expert: string, peerId: string, errorCode?: string): void;
  /** Host records from a discovery result (moves are derived from them). */
  hostsSeen(records: readonly HostSighting[]): void;
  host(peerId: string): HostSighting | undefined;
  trust(expert: string, peerId: string): TrustRecord | undefined;
  health(expert: string, peerId: string): ReplicaHealth | undefined;
  snapshot(): StatsSnapshot;
}

interface Bucket {
  sec: number;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  errors: Map<string, number>;
  latency: LatencyHistogram;
  paths: Map<string, number>;
}

/** Joins a path's expert ids into a map key (no expert id holds a NUL). */
const PATH_SEP = '\u0000';
/** Replicas whose probe results and call outcomes are kept, at most (each). */
const REPLICAS_MAX = 16_384;

export function createStatsCollector(init: StatsCollectorInit, c: { clock: () => number }): StatsCollector {
  const windowS = init.windowS ?? 600;
  const pointS = init.pointS ?? 10;
  const maxEvents = init.maxEvents ?? 100;
  const startedAt = c.clock();
  const ring: (Bucket | undefined)[] = new Array(windowS);
  const failovers: FailoverEvent[] = [];
  const moves: MoveEvent[] = [];
  const hosts = hostDirectory();
  const trust = new LRUCache<string, TrustRecord>({ max: REPLICAS_MAX });
  const health = new LRUCache<string, ReplicaHealth>({ max: REPLICAS_MAX });

  /** The bucket of the current second (a slot left from an older second is reset). */
  const current = (): Bucket => {
    const sec = Math.floor(c.clock() / 1000);
    const slot = sec % windowS;
    let b = ring[slot];
    if (!b || b.sec !== sec) {
      b = { sec, requests: 0, promptTokens: 0, completionTokens: 0, errors: new Map(), latency: new LatencyHistogram(), paths: new Map() };
      ring[slot] = b;
    }
    return b;
  };
  const push = <E>(list: E[], e: E): void => {
    list.push(e);
    if (list.length > maxEvents) list.shift();
  };
  const recent = <E extends { at: number }>(list: readonly E[], now: number): E[] =>
    list.filter((e) => e.at > now - windowS * 1000).reverse();

  return {
    requestEnded({ status, durationMs, errorCode }) {
      const b = current();
      b.requests++;
      if (status >= 400 || errorCode) {
        const code = errorCode ?? `HTTP_${status}`;
        b.errors.set(code, (b.errors.get(code) ?? 0) + 1);
      } else {
        b.latency.add(durationMs);
      }
    },
    tokens(prompt, completion) {
      const b = current();
      b.promptTokens += prompt;
      b.completionTokens += completion;
    },
    pathChosen(path) {
      const b = current();
      const key = path.join(PATH_SEP);
      b.paths.set(key, (b.paths.get(key) ?? 0) + 1);
    },
    failover(expert, reason) {
      push(failovers, { at: c.clock(), expert, reason });
    },
    probed(expert, peerId, result) {
      const key = `${expert} ${peerId}`;
      const t = trust.get(key) ?? { last: result, at: 0, ok: 0, mismatch: 0, error: 0 };
      trust.set(key, { ...t, last: result, at: c.clock(), [result]: t[result] + 1 });
    },
    called(expert, peerId, errorCode) {
      const key = `${expert} ${peerId}`;
      let h = health.get(key);
      if (!h) health.set(key, h = {});
      if (errorCode === undefined) h.lastOkAt = c.clock();
      else Object.assign(h, { lastFailAt: c.clock(), lastError: errorCode });
    },
    hostsSeen(records) {
      for (const m of hosts.note(records, c.clock())) push(moves, m);
    },
    host: (peerId) => hosts.get(peerId),
    trust: (expert, peerId) => trust.peek(`${expert} ${peerId}`),
    health: (expert, peerId) => health.peek(`${expert} ${peerId}`),
    snapshot() {
      const now = c.clock();
      const nowSec = Math.floor(now / 1000);
      const live = (fromSec: number): Bucket[] =>
        ring.filter((b): b is Bucket => b !== undefined && b.sec > fromSec && b.sec <= nowSec);
      const inWindow = live(nowSec - windowS);
      const minute = live(nowSec - 60);
      const upS = Math.min(60, Math.max(1, (now - startedAt) / 1000));
      const m = figures(minute);
      return {
        now, windowS,
        series: series(inWindow, nowSec, windowS, pointS),
        lastMinute: { ...m, requestsPerS: m.requests / upS, tokensPerS: m.completionTokens / upS },
        window: figures(inWindow),
        paths: pathCounts(inWindow),
        failovers: recent(failovers, now),
        moves: recent(moves, now),
      };
    },
  };
}

function figures(buckets: readonly Bucket[]): WindowFigures {
  const latency = new LatencyHistogram();
  const errors: Record<string, number> = {};
  let requests = 0, promptTokens = 0, completionTokens = 0;
  for (const b of buckets) {
    requests += b.requests;
    promptTokens += b.promptTokens;
    completionTokens += b.completionTokens;
    latency.merge(b.latency);
    for (const [code, n] of b.errors) errors[code] = (errors[code] ?? 0) + n;
  }
  return { requests, promptTokens, completionTokens, errors, p50Ms: latency.quantile(0.5), p95Ms: latency.quantile(0.95) };
}

/** The window cut into points of `pointS` seconds, the last one ending with the current second. */
function series(buckets: readonly Bucket[], nowSec: number, windowS: number, pointS: number): StatsSnapshot['series'] {
  const points = Math.ceil(windowS / pointS);
  const firstSec = nowSec - points * pointS + 1;
  const groups: Bucket[][] = Array.from({ length: points }, () => []);
  for (const b of buckets) {
    const i = Math.floor((b.sec - firstSec) / pointS);
    if (i >= 0 && i < points) groups[i].push(b);
  }
  const f = groups.map(figures);
  return {
    pointS, start: firstSec * 1000,
    requests: f.map((x) => x.requests),
    completionTokens: f.map((x) => x.completionTokens),
    errors: f.map((x) => Object.values(x.errors).reduce((a, n) => a + n, 0)),
    p50Ms: f.map((x) => x.p50Ms),
    p95Ms: f.map((x) => x.p95Ms),
  };
}

function pathCounts(buckets: readonly Bucket[]): { path: string[]; count: number }[] {
  const counts = new Map<string, number>();
  for (const b of buckets) for (const [p, n] of b.paths) counts.set(p, (counts.get(p) ?? 0) + n);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([p, count]) => ({ path: p.split(PATH_SEP), count }));
}
