/**
 * Ground truth of what the swarm serves, sampled during a chaos run: every `periodMs` each known
 * host is asked for Info over gRPC. A host whose port refuses (a killed process) or that answers
 * other than ONLINE serves nothing; a host that is merely slow to answer (a loaded machine) keeps
 * what it last reported, for SLOW_ROUNDS rounds in a row at most, each on a fresh channel. Each sample counts the live replicas of every expert. Times are ms from
 * the run's t0.
 */
import { SwarmpathError } from '../../shared/errors.ts';
import { createExpertClient, type GrpcExpertClient } from '../../shared/grpc/client.ts';

export interface ReplicaSample {
  /** When the probe round started (ms from t0); it reflects the swarm at or after this time. */
  tMs: number;
  counts: Record<string, number>;
}

export interface ReplicaWatch {
  /** Adds a host address to probe (a restarted host). */
  add(grpc: string): void;
  samples(): readonly ReplicaSample[];
  stop(): Promise<void>;
}

/** Rounds in a row a host may time out and still count as serving what it last reported. */
const SLOW_ROUNDS = 2;

export function watchReplicas(init: { experts: readonly string[]; addresses: readonly string[]; t0: number; periodMs?: number; timeoutMs?: number }): ReplicaWatch {
  const period = init.periodMs ?? 250;
  const timeout = init.timeoutMs ?? 2000;
  const clients = new Map<string, GrpcExpertClient>();
  /** Experts each address served at its last answer. */
  const lastKnown = new Map<string, readonly string[]>();
  /** Rounds in a row each address has timed out (kept at what it last reported for SLOW_ROUNDS, then counted as serving nothing). */
  const misses = new Map<string, number>();
  const out: ReplicaSample[] = [];
  let running = true;
  const add = (a: string) => { if (!clients.has(a)) clients.set(a, createExpertClient(a)); };
  for (const a of init.addresses) add(a);

  const round = async () => {
    const tMs = performance.now() - init.t0;
    const counts: Record<string, number> = Object.fromEntries(init.experts.map((e) => [e, 0]));
    await Promise.all([...clients].map(async ([addr, c]) => {
      let served: readonly string[] = [];
      try {
        const info = await c.info({ deadlineMs: Date.now() + timeout });
        served = info.state === 'ONLINE' ? info.experts.map((e) => e.expertId) : [];
        misses.delete(addr);
      } catch (err) {
        const slow = err instanceof SwarmpathError && err.code === 'DEADLINE_EXCEEDED' && (misses.get(addr) ?? 0) < SLOW_ROUNDS;
        if (slow) {
          misses.set(addr, (misses.get(addr) ?? 0) + 1);
          served = lastKnown.get(addr) ?? [];
        }
        // A fresh channel next round, whatever failed: grpc-js backs off reconnecting a dead host, and
        // a channel that went on timing out kept a killed host "serving" for a whole run (a chaos
        // test saw no gap after killing every replica of an expert, while fresh connections found none).
        c.close();
        clients.set(addr, createExpertClient(addr));
      }
      lastKnown.set(addr, served);
      for (const e of served) if (e in counts) counts[e]++;
    }));
    out.push({ tMs, counts });
  };
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await round();
      const wait = period - (performance.now() - started);
      if (wait > 0 && running) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    add,
    samples: () => out,
    async stop() {
      running = false;
      await loop;
      for (const c of clients.values()) c.close();
    },
  };
}
