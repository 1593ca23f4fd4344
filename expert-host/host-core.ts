/**
 * The expert host's logic, free of gRPC: the served experts, their batchers, the KV session store,
 * the host state (ONLINE → DRAINING → OFFLINE) and what Info reports. grpc-server.ts binds it to the
 * wire; host.ts owns its lifecycle. Every method validates its input and throws SwarmpathErrors.
 */
import { FailedPreconditionError, InvalidArgumentError, SwarmpathError, UnavailableError } from '../shared/errors.ts';
import type { ExpertEntry, ModelDims } from '../shared/manifest.ts';
import type { ExpertModel, F32 } from '../shared/runtime-types.ts';
import type { HostInfo, HostState } from '../shared/transport-types.ts';
import { appendKv, type KvShape } from '../shared/model/kv-cache.ts';
import { beginStep, type KvSession, type SessionEndReason } from './kv-session.ts';
import { createKvSessionStore, type KvSessionStore } from './kv-session-store.ts';
import { createStepBatcher, type BatchInfo, type StepBatcher } from './step-batcher.ts';
import { createThroughputMeter } from './throughput-meter.ts';

/** An expert this host serves: its loaded model and where its verified shard lies. */
export interface ServedModel {
  model: ExpertModel;
  /** Absolute path of the verified ONNX file (served by FetchShard). */
  shardPath: string;
}

export interface HostCoreInit {
  modelName: string;
  dims: ModelDims;
  experts: readonly ServedModel[];
  kvCapacityBytes: number;
  sessionIdleMs: number;
  /** Idle time of a session never stepped, ms (default: sessionIdleMs). */
  openIdleMs?: number;
  /** Share of kvCapacityBytes each peer is guaranteed, 0-1 (kv-share.ts; default 1: no per-peer shares). */
  peerKvShare?: number;
  /** Most calls waiting per expert (step-batcher.ts; default unbounded). */
  maxQueue?: number;
  maxBatch: number;
  batchWaitMs: number;
  /**
   * Bound of one batched call's padded KV cache, bytes. Default per expert: max(1 MiB, the expert's
   * file size), i.e. batch while the copied caches are no bigger than the weights a batch saves
   * reading once per row (decode steps are memory-bound on CPU).
   */
  maxBatchKvBytes?: number;
  version: string;
  device: string;
  onBatch?: (b: BatchInfo) => void;
  clock?: () => number;
}

interface Served extends ServedModel {
  entry: ExpertEntry;
  kv: KvShape;
  batcher: StepBatcher;
}

export interface HostCore {
  readonly store: KvSessionStore;
  readonly dims: ModelDims;
  state(): HostState;
  setState(s: HostState): void;
  setPeerId(peerId: string): void;
  /** What Info reports; with `peer`, kvFreeBytes is what that peer could reserve now. */
  info(peer?: string): HostInfo;
  /** The served expert `id` (throws UNKNOWN_EXPERT). */
  expert(id: string): Served;
  /** Stateless call: hidden [B,T,D] → [B,T,D] data. */
  forward(expertId: string, hidden: F32): Promise<Float32Array>;
  /** Opens a session of `peer` (peer-key.ts) reserving `maxLength` positions (UNAVAILABLE unless ONLINE). */
  openSession(expertId: string, maxLength: number, peer?: string): KvSession;
  /** Runs a step of `session` at `position` with hidden [1,T,D]; resolves [1,T,D] and the new length. */
  step(session: KvSession, position: number, hidden: F32): Promise<{ hidden: Float32Array; length: number }>;
  closeSession(id: string): void;
  /** Calls queued or running, all experts. */
  inFlight(): number;
  /** Resolves when no call is queued or running. */
  idle(): Promise<void>;
  /** Subscribes to a session's end (closed, evicted or retired); returns the unsubscribe function. */
  onSessionEnd(id: string, f: (reason: SessionEndReason) => void): () => void;
  /** Starts serving an expert loaded from a verified shard (Info and calls see it at once). */
  addExpert(m: ServedModel): void;
  /**
   * Stops serving `expertId`: new calls get UNKNOWN_EXPERT, its open sessions end (UNAVAILABLE, so
   * routers replay them elsewhere), its queued and running calls finish. Resolves the model, for the
   * caller to release, or undefined when it was not served.
   */
  removeExpert(expertId: string): Promise<ServedModel | undefined>;
  /** Batch-size histograms by expert. */
  batchSizes(): Record<string, Record<number, number>>;
}

/** Builds the core over already loaded experts. */
export function createHostCore(init: HostCoreInit): HostCore {
  const { dims } = init;
  let state: HostState = 'ONLINE';
  let peerId = '';
  const meter = createThroughputMeter(60, init.clock);
  const endListeners = new Map<string, (reason: SessionEndReason) => void>();
  const store = createKvSessionStore({
    capacityBytes: init.kvCapacityBytes, idleMs: init.sessionIdleMs, openIdleMs: init.openIdleMs, clock: init.clock,
    peerShareBytes: Math.floor(init.kvCapacityBytes * (init.peerKvShare ?? 1)),
    onEnd: (s, reason) => { const f = endListeners.get(s.id); endListeners.delete(s.id); f?.(reason); },
  });
  const served = new Map<string, Served>();
  const add = (m: ServedModel) => {
    const entry = m.model.entry;
    if (served.has(entry.id)) throw new FailedPreconditionError(`expert ${entry.id} is already served`);
    const kv: KvShape = { layers: entry.layers, nHeads: dims.n_heads, headDim: dims.head_dim };
    const batcher = createStepBatcher({
      model: m.model, D: dims.d_model, kv, maxRows: init.maxBatch, maxWaitMs: init.batchWaitMs, maxBatchKvBytes: init.maxBatchKvBytes ?? Math.max(1 << 20, entry.bytes),
      maxQueue: init.maxQueue,
      activeSessions: () => store.activeFor(entry.id),
      onBatch: (b) => { meter.add(b.rows * b.T); init.onBatch?.(b); },
    });
    served.set(entry.id, { ...m, entry, kv, batcher });
  };
  for (const m of init.experts) add(m);

  const expert = (id: string): Served => {
    const s = served.get(id);
    if (!s) throw new SwarmpathError('UNKNOWN_EXPERT', `this host does not serve expert ${JSON.stringify(id)}; it serves ${[...served.keys()].join(', ')}`);
    return s;
  };
  const requireOnline = (what: string) => {
    if (state !== 'ONLINE') throw new UnavailableError(`host is ${state}: ${what} refused`);
  };
  const checkHidden = (hidden: F32, what: string) => {
    if (hidden.dims.length !== 3 || hidden.dims[2] !== dims.d_model) {
      throw new InvalidArgumentError(`${what}: hidden must be [B,T,${dims.d_model}], got [${hidden.dims.join(',')}]`);
    }
  };

  return {
    store,
    dims,
    state: () => state,
    setState(s) { state = s; },
    setPeerId(p) { peerId = p; },
    expert,
    info(caller) {
      let queue = 0;
      for (const s of served.values()) queue += s.batcher.queueDepth();
      return {
        peerId, version: init.version, model: init.modelName,
        experts: [...served.values()].map((s) => ({ expertId: s.entry.id, sha256: s.entry.sha256, layers: s.entry.layers, activeSessions: store.activeFor(s.entry.id) })),
        queueDepth: queue, throughput: meter.rate(),
        kvCapacityBytes: store.capacityBytes, kvFreeBytes: caller === undefined ? store.freeBytes() : store.availableTo(caller),
        state, device: init.device, maxContext: dims.max_context,
      };
    },
    async forward(expertId, hidden) {
      const s = expert(expertId);
      requireOnline('Forward');
      checkHidden(hidden, 'Forward');
      const [B, T] = hidden.dims;
      if (T > dims.max_context) throw new InvalidArgumentError(`Forward: T=${T} exceeds max_context ${dims.max_context}`);
      const r = await s.batcher.submit({ hidden: hidden.data, rows: B, T, cache: null }, 'forward');
      return r.hidden;
    },
    openSession(expertId, maxLength, peer) {
      const s = expert(expertId);
      requireOnline('new session');
      if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > dims.max_context) {
        throw new InvalidArgumentError(`max_length must be in [1, ${dims.max_context}] (the model's max_context), got ${maxLength}`);
      }
      return store.open(expertId, maxLength, s.kv, peer);
    },
    async step(session, position, hidden) {
      if (session.ended) store.get(session.id); // throws UNKNOWN_SESSION naming why
      const s = expert(session.expertId);
      checkHidden(hidden, 'step');
      if (hidden.dims[0] !== 1) throw new InvalidArgumentError(`step: hidden must be [1,T,${dims.d_model}], got [${hidden.dims.join(',')}]`);
      const T = hidden.dims[1];
      beginStep(session, position, T);
      session.stepped = true;
      session.busy++;
      try {
        const r = await s.batcher.submit({ hidden: hidden.data, rows: 1, T, cache: session }, 'session');
        if (session.ended) store.get(session.id);
        appendKv(session, r.newKv, T);
        return { hidden: r.hidden, length: session.length };
      } finally {
        session.busy--;
        store.touch(session);
      }
    },
    closeSession: (id) => store.close(id),
    inFlight() {
      let n = 0;
      for (const s of served.values()) n += s.batcher.queueDepth();
      return n;
    },
    async idle() {
      await Promise.all([...served.values()].map((s) => s.batcher.idle()));
    },
    onSessionEnd(id, f) {
      endListeners.set(id, f);
      return () => { if (endListeners.get(id) === f) endListeners.delete(id); };
    },
    addExpert: add,
    async removeExpert(expertId) {
      const s = served.get(expertId);
      if (!s) return undefined;
      served.delete(expertId);
      store.endAllOf(expertId, 'retired');
      await s.batcher.idle();
      return { model: s.model, shardPath: s.shardPath };
    },
    batchSizes() {
      const out: Record<string, Record<number, number>> = {};
      for (const [id, s] of served) out[id] = Object.fromEntries(s.batcher.batchSizes());
      return out;
    },
  };
}
