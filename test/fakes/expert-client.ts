/**
 * An in-memory ExpertClient (shared/transport-types.ts) for unit tests of router logic. It computes
 * a cheap, deterministic, causal function of a session's whole history, so a step's output is right
 * only when the history is (replays and retries are checkable), and `fakeExpertForward` gives the
 * reference. Failures are injected per client: `failNext`, `kill`, `setLatency`, `fillKv`.
 * Semantics follow the real host: RESOURCE_EXHAUSTED when the KV budget is full, INVALID_ARGUMENT for
 * a position past the cache, UNKNOWN_EXPERT for an expert not served, deadlines honoured.
 */
import { InvalidArgumentError, SwarmpathError, type ErrorCode } from '../../shared/errors.ts';
import type { F32 } from '../../shared/runtime-types.ts';
import type { CallOpts, ExpertClient, ExpertSession, HostInfo, HostState } from '../../shared/transport-types.ts';

export interface FakeExpertClientInit {
  address: string;
  experts: readonly string[];
  dModel: number;
  peerId?: string;
  model?: string;
  maxContext?: number;
  /** Sessions that fit (each takes one unit); default 64. */
  kvSlots?: number;
  /** Simulated time per call, ms (default 0). */
  latencyMs?: number;
}

export interface FakeExpertClient extends ExpertClient {
  /** Every call made, in order: `info`, `forward:L0.1`, `open:L0.1`, `step:L0.1@5`. */
  readonly calls: string[];
  /** The next `n` calls (any kind) fail with `code`. */
  failNext(code: ErrorCode, n?: number): void;
  /** From now on every call fails UNAVAILABLE and open sessions break (a dead host). */
  kill(): void;
  setLatency(ms: number): void;
  setState(s: HostState): void;
  /** Open sessions. */
  openSessions(): number;
}

/** Mixing factor of an expert, from its id (different experts compute different functions). */
function scaleOf(expertId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < expertId.length; i++) { h ^= expertId.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return 0.5 + (h % 1000) / 1000;
}

/**
 * The fake expert on a whole sequence [N*D] (one row): out[t] = a * x[t] + mean(x[0..t]).
 * Causal, so a step's output over new positions equals this function's tail over the full history.
 */
export function fakeExpertForward(expertId: string, seq: Float32Array, D: number): Float32Array {
  const a = scaleOf(expertId);
  const N = seq.length / D;
  const out = new Float32Array(seq.length);
  const sum = new Float64Array(D);
  for (let t = 0; t < N; t++) {
    for (let d = 0; d < D; d++) {
      sum[d] += seq[t * D + d];
      out[t * D + d] = a * seq[t * D + d] + sum[d] / (t + 1);
    }
  }
  return out;
}

/** Creates a fake host client. */
export function createFakeExpertClient(init: FakeExpertClientInit): FakeExpertClient {
  const D = init.dModel;
  const maxContext = init.maxContext ?? 1024;
  const slots = init.kvSlots ?? 64;
  const calls: string[] = [];
  let failures: { code: ErrorCode; n: number } | undefined;
  let dead = false;
  let latency = init.latencyMs ?? 0;
  let state: HostState = 'ONLINE';
  const live = new Set<{ broken: boolean }>();

  async function gate(what: string, opts: CallOpts): Promise<void> {
    calls.push(what);
    if (opts.signal?.aborted) throw new SwarmpathError('CANCELLED', `${what} cancelled`);
    if (latency > 0 || opts.deadlineMs <= Date.now()) {
      const left = opts.deadlineMs - Date.now();
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(latency, left))));
      if (latency >= left) throw new SwarmpathError('DEADLINE_EXCEEDED', `${what} on ${init.address} exceeded its deadline`);
    }
    if (dead) throw new SwarmpathError('UNAVAILABLE', `host ${init.address} is unreachable`);
    if (failures && failures.n > 0) {
      failures.n--;
      throw new SwarmpathError(failures.code, `injected ${failures.code} on ${what} (${init.address})`);
    }
  }
  const served = (id: string) => {
    if (!init.experts.includes(id)) throw new SwarmpathError('UNKNOWN_EXPERT', `this host does not serve expert ${JSON.stringify(id)}`);
  };
  const checkHidden = (h: F32, rows?: number) => {
    if (h.dims.length !== 3 || h.dims[2] !== D || (rows !== undefined && h.dims[0] !== rows) || h.data.length !== h.dims[0] * h.dims[1] * D) {
      throw new InvalidArgumentError(`hidden must be [${rows ?? 'B'},T,${D}], got [${h.dims.join(',')}]`);
    }
  };

  return {
    address: init.address,
    calls,
    failNext(code, n = 1) { failures = { code, n }; },
    kill() { dead = true; for (const s of live) s.broken = true; },
    setLatency(ms) { latency = ms; },
    setState(s) { state = s; },
    openSessions: () => live.size,
    async info(opts): Promise<HostInfo> {
      await gate('info', opts);
      return {
        peerId: init.peerId ?? `fake-${init.address}`, version: 'fake', model: init.model ?? 'fake',
        experts: init.experts.map((expertId) => ({ expertId, sha256: '0'.repeat(64), layers: 1, activeSessions: live.size })),
        queueDepth: 0, throughput: 0, kvCapacityBytes: slots, kvFreeBytes: slots - live.size, state, device: 'cpu', maxContext,
      };
    },
    async forward(expertId, hidden, opts) {
      await gate(`forward:${expertId}`, opts);
      served(expertId);
      if (state !== 'ONLINE') throw new SwarmpathError('UNAVAILABLE', `host is ${state}`);
      checkHidden(hidden);
      const [B, T] = hidden.dims;
      const out = new Float32Array(hidden.data.length);
      for (let b = 0; b < B; b++) out.set(fakeExpertForward(expertId, hidden.data.subarray(b * T * D, (b + 1) * T * D), D), b * T * D);
      return { data: out, dims: [...hidden.dims] };
    },
    async openSession(expertId, maxLength, opts): Promise<ExpertSession> {
      await gate(`open:${expertId}`, opts);
      served(expertId);
      if (state !== 'ONLINE') throw new SwarmpathError('UNAVAILABLE', `host is ${state}: new session refused`);
      if (maxLength < 1 || maxLength > maxContext) throw new InvalidArgumentError(`max_length must be in [1, ${maxContext}], got ${maxLength}`);
      if (live.size >= slots) throw new SwarmpathError('RESOURCE_EXHAUSTED', `KV cache full on ${init.address}`);
      const history = new Float32Array(maxLength * D);
      let length = 0;
      let closed = false;
      const handle = { broken: false };
      live.add(handle);
      return {
        get closed() { return closed || handle.broken; },
        async step(hidden, position, o) {
          if (closed) throw new SwarmpathError('UNKNOWN_SESSION', 'session is closed');
          await gate(`step:${expertId}@${position}`, o);
          if (handle.broken) throw new SwarmpathError('UNAVAILABLE', `session stream to ${init.address} broke`);
          checkHidden(hidden, 1);
          const T = hidden.dims[1];
          if (position > length) throw new InvalidArgumentError(`position ${position} is past the cache length ${length}`);
          if (position + T > maxLength) throw new InvalidArgumentError(`position ${position} + ${T} exceeds max_length ${maxLength}`);
          history.set(hidden.data, position * D);
          length = position + T;
          const all = fakeExpertForward(expertId, history.subarray(0, length * D), D);
          return { data: all.slice(position * D), dims: [1, T, D] };
        },
        close() { if (!closed) { closed = true; live.delete(handle); } },
      };
    },
    close() { /* nothing to release */ },
  };
}
