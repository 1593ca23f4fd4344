/**
 * The router's generation pipeline, driven step by step for timing: the router's model runtime
 * (stem, head, sampler), its replica pool and SWARM balancer, and a PathSession of StageSessions over
 * gRPC to real host processes. One `step()` is exactly the body of the router's decode loop
 * (router/generation.ts): embed one token, forward it through every stage, head, sample.
 */
import { createExpertClient } from '../shared/grpc/client.ts';
import { silentLogger } from '../shared/log.ts';
import type { ModelPackage } from '../shared/runtime-types.ts';
import type { Discovery } from '../shared/transport-types.ts';
import { openModelRuntime, type ModelRuntime } from '../router/model-runtime.ts';
import { createReplicaPool } from '../router/replica-pool.ts';
import type { ReplicaPool } from '../router/replica-pool.ts';
import { ReplicaBalancer } from '../router/replica-balancer.ts';
import { PathSession, type ChainMode, type ChainStats } from '../router/path-session.ts';

export interface Pipeline {
  readonly runtime: ModelRuntime;
  readonly pool: ReplicaPool;
  /**
   * Opens a decode session on `path` with room for `maxLength` positions; `chain`: host-to-host
   * forwarding (default auto, as the router); `prefillChunk`: the pipelined prefill's chunk (default
   * the router's; 0: in one step).
   */
  session(path: readonly string[], maxLength: number, chain?: ChainMode, prefillChunk?: number): DecodeSession;
  close(): Promise<void>;
}

/** Where the last step's time went, ms: the router's stem, the stages over gRPC, head and sampling. */
export interface StepBreakdown { stemMs: number; stagesMs: number; headMs: number }

export interface DecodeSession {
  /** Position of the next token. */
  readonly position: number;
  /** The last `step()`'s breakdown. */
  readonly last: StepBreakdown;
  /** Runs the prompt in one step; resolves the first sampled token. */
  prefill(tokens: Uint8Array): Promise<number>;
  /** Chained steps so far and router fallbacks within them (router/path-session.ts). */
  readonly chainStats: Readonly<ChainStats>;
  /** One decode step of `token`; resolves the next sampled token. */
  step(token: number): Promise<number>;
  close(): void;
}

const STEP_DEADLINE_MS = 60_000;

/** Opens stem and head in this process and a replica pool over `discovery`. */
export async function openPipeline(pkg: ModelPackage, discovery: Discovery, threads = 1): Promise<Pipeline> {
  const runtime = await openModelRuntime({ pkg, threads });
  const pool = createReplicaPool({ model: pkg.manifest.name }, {
    discovery, balancer: new ReplicaBalancer(), connect: (a) => createExpertClient(a), log: silentLogger,
  });
  const D = pkg.manifest.dims.d_model;
  return {
    runtime, pool,
    session(path, maxLength, chain = 'auto', prefillChunk) {
      const ps = new PathSession({ path, maxLength, dModel: D, chain, prefillChunk }, { pool, log: silentLogger });
      const sample = runtime.sampler(0, { temperature: 0, topP: 1 });
      let pos = 0;
      const last: StepBreakdown = { stemMs: 0, stagesMs: 0, headMs: 0 };
      const opts = () => ({ deadlineMs: Date.now() + STEP_DEADLINE_MS });
      return {
        get position() { return pos; },
        last,
        async prefill(tokens) {
          const h = await ps.forward(await runtime.embed(tokens, 0), 0, opts());
          pos = tokens.length;
          return sample(await runtime.lastLogits(h));
        },
        async step(token) {
          const t0 = performance.now();
          const x = await runtime.embed([token], pos);
          const t1 = performance.now();
          const h = await ps.forward(x, pos, opts());
          const t2 = performance.now();
          pos++;
          const next = sample(await runtime.lastLogits(h));
          last.stemMs = t1 - t0; last.stagesMs = t2 - t1; last.headMs = performance.now() - t2;
          return next;
        },
        get chainStats() { return ps.chainStats; },
        close() { ps.close(); },
      };
    },
    async close() {
      pool.close();
      await runtime.release();
    },
  };
}
