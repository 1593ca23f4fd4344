/**
 * In-memory stand-ins for the router's unit tests: a toy runtime (stem, head, sampler, decoder), fake
 * expert hosts whose experts depend on the whole session history (so a wrong replay changes the
 * output), and a static discovery. Never used by integration tests or the product.
 */
import { SwarmpathError } from '../../../shared/errors.ts';
import type { Manifest } from '../../../shared/manifest.ts';
import type { F32 } from '../../../shared/runtime-types.ts';
import type { CallOpts, Discovery, ExpertClient, ExpertSession, HostInfo, HostRecord } from '../../../shared/transport-types.ts';
import type { RouterRuntime, SamplingParams } from '../../../router/runtime.ts';
import { mulberry32 } from '../../../shared/model/rng.ts';

export const D = 4;

export function toyManifest(levels = [2, 2], maxContext = 128): Manifest {
  return {
    format: 'swarmpath-model/1',
    name: 'toy',
    tokenizer: { type: 'bytes/1', vocab_size: 256 },
    dims: { d_model: D, n_heads: 1, head_dim: D, vocab_size: 256, max_context: maxContext },
    stem: { file: 'stem.onnx', sha256: '0'.repeat(64), bytes: 1 },
    head: { file: 'head.onnx', sha256: '0'.repeat(64), bytes: 1 },
    levels: levels.map((k, l) => ({
      name: `L${l}`,
      experts: Array.from({ length: k }, (_, i) => ({
        id: `L${l}.${i}`, file: `experts/L${l}.${i}.onnx`, sha256: '0'.repeat(64), bytes: 1, layers: 1,
        probe: { seed: 1, tokens: 1, fingerprint: [] },
      })),
    })),
    router: {
      featurizer: { type: 'hashed-ngrams/1', prefix_bytes: 16, orders: [1], buckets: 4 },
      centroids: [[1, 0, 0, 0], [0, 1, 0, 0]],
      paths: [['L0.0', 'L1.0'], ['L0.1', 'L1.1']],
    },
  };
}


/** Toy stem/head: logits favour printable lowercase letters, shaped by the hidden state. */
export function toyRuntime(manifest = toyManifest()): RouterRuntime {
  return {
    manifest,
    encode: (t) => new TextEncoder().encode(t),
    route: (tokens) => {
      const cluster = tokens[0] % 2;
      return { path: manifest.router.paths[cluster], cluster, distances: [cluster, 1 - cluster] };
    },
    async embed(tokens, position) {
      const T = tokens.length;
      const data = new Float32Array(T * D);
      for (let t = 0; t < T; t++) {
        const tok = tokens[t];
        const p = position + t;
        data.set([tok / 255, Math.sin(p), Math.cos(tok), (tok % 7) / 7], t * D);
      }
      return { data, dims: [1, T, D] };
    },
    async lastLogits(hidden) {
      const T = hidden.dims[1];
      const h = hidden.data.subarray((T - 1) * D, T * D);
      const logits = new Float32Array(256).fill(-30);
      for (let v = 97; v < 123; v++) logits[v] = Math.sin(v * h[0] * 7 + h[1] * 3) * 2 + Math.cos(v * h[2] + h[3] * 5) * 2;
      logits[32] = h[0] * 3;
      return logits;
    },
    sampler(seed: number, params: SamplingParams) {
      const u = mulberry32(seed);
      return (logits) => {
        if (params.temperature === 0) {
          let best = 0;
          for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
          return best;
        }
        let max = -Infinity;
        for (const x of logits) max = Math.max(max, x);
        const p = Array.from(logits, (x) => Math.exp((x - max) / params.temperature));
        const sum = p.reduce((a, x) => a + x, 0);
        let r = u() * sum;
        for (let i = 0; i < p.length; i++) { r -= p[i]; if (r <= 0) return i; }
        return p.length - 1;
      };
    },
    decoder() {
      const d = new TextDecoder('utf-8');
      return { push: (t) => d.decode(Uint8Array.of(t), { stream: true }), end: () => d.decode() };
    },
    async release() {},
  };
}

/**
 * The toy expert: out[t] = in[t] * (1 + k) + mean of every input up to t (the "KV cache"), so the
 * output depends on the whole history. k distinguishes experts.
 */
export function toyExpert(expertId: string, history: Float32Array[], x: F32): F32 {
  let k = 0;
  for (let i = 0; i < expertId.length; i++) k += expertId.charCodeAt(i);
  k = (k % 5) / 10;
  const T = x.dims[1];
  const out = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    const row = x.data.subarray(t * D, (t + 1) * D);
    history.push(Float32Array.from(row));
    const mean = new Float32Array(D);
    for (const h of history) for (let i = 0; i < D; i++) mean[i] += h[i] / history.length;
    for (let i = 0; i < D; i++) out[t * D + i] = Math.tanh(row[i] * (1 + k) + mean[i]);
  }
  return { data: out, dims: [1, T, D] };
}

/** Runs the whole path in one place: the reference the distributed generation must match. */
export async function referenceText(rt: RouterRuntime, prompt: string, path: readonly string[], maxTokens: number,
  seed: number, sampling: SamplingParams): Promise<string> {
  const hist = path.map(() => [] as Float32Array[]);
  const fwd = (h: F32) => path.reduce((x, id, s) => toyExpert(id, hist[s], x), h);
  const tokens = rt.encode(prompt);
  let logits = await rt.lastLogits(fwd(await rt.embed(tokens, 0)));
  const sample = rt.sampler(seed, sampling);
  const dec = rt.decoder();
  let text = '';
  for (let i = 0; i < maxTokens; i++) {
    const tok = sample(logits);
    text += dec.push(tok);
    if (i === maxTokens - 1) break;
    logits = await rt.lastLogits(fwd(await rt.embed([tok], tokens.length + i)));
  }
  return text + dec.end();
}

export interface FakeHostOpts {
  /** Steps (over all sessions) after which the host dies. */
  dieAfterSteps?: number;
  /** Never answer steps (to test deadlines). */
  hang?: boolean;
  /** Answer steps with this error code. */
  failWith?: SwarmpathError['code'];
  /** Steps wait for this promise first (those after the first `gateAfterSteps`, default all). */
  gate?: Promise<void>;
  gateAfterSteps?: number;
  /** Adds this to every Session output (a host honest on Forward, lying on real work). */
  perturbSession?: number;
  /** Session outputs hold a NaN. */
  nanSession?: boolean;
  /** Adds this to every Forward output (a lying checker). */
  perturbForward?: number;
}

function shifted(t: F32, by: number): F32 {
  return { data: t.data.map((x) => x + by), dims: t.dims };
}

/** A fake host serving some experts; `kill()` makes every call fail as a dead host's would. */
export class FakeHost {
  readonly peerId: string;
  readonly grpc: string;
  readonly experts: string[];
  opts: FakeHostOpts;
  dead = false;
  steps = 0;
  opened = 0;
  activeSessions = 0;
  /** Info calls answered or refused. */
  infos = 0;
  /** Forward calls answered. */
  forwards = 0;
  readonly positions: number[] = [];

  constructor(peerId: string, experts: string[], opts: FakeHostOpts = {}) {
    this.peerId = peerId;
    this.grpc = `fake:${peerId}`;
    this.experts = experts;
    this.opts = opts;
  }

  kill(): void { this.dead = true; }

  record(model = 'toy'): HostRecord {
    return {
      peerId: this.peerId, model, experts: this.experts, grpc: this.grpc, state: 'ONLINE', version: 'test',
      device: 'cpu', kvCapacityBytes: 1e9, kvFreeBytes: 1e9, queueDepth: 0, throughput: 100, auto: false,
      seq: 1, expiresAt: Date.now() + 3_600_000,
    };
  }

  client(): ExpertClient {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the returned object's methods need the host, not themselves, as `this`.
    const host = this;
    const unavailable = () => new SwarmpathError('UNAVAILABLE', `host ${host.peerId} is gone`);
    return {
      address: host.grpc,
      async info(): Promise<HostInfo> {
        host.infos++;
        if (host.dead) throw unavailable();
        return {
          peerId: host.peerId, version: 'test', model: 'toy', queueDepth: 0, throughput: 100, kvCapacityBytes: 1e9,
          kvFreeBytes: 1e9, state: 'ONLINE', device: 'cpu', maxContext: 1024,
          experts: host.experts.map((expertId) => ({ expertId, sha256: '', layers: 1, activeSessions: host.activeSessions })),
        };
      },
      // Stateless: the whole sequence in one call (what the router's cross-checks send).
      async forward(expertId: string, hidden: F32, opts: CallOpts): Promise<F32> {
        if (host.dead) throw unavailable();
        if (opts.deadlineMs <= Date.now()) throw new SwarmpathError('DEADLINE_EXCEEDED', 'deadline passed before the call');
        if (!host.experts.includes(expertId)) throw new SwarmpathError('UNKNOWN_EXPERT', expertId);
        host.forwards++;
        const out = toyExpert(expertId, [], hidden);
        return host.opts.perturbForward ? shifted(out, host.opts.perturbForward) : out;
      },
      async openSession(expertId: string, maxLength: number, _opts: CallOpts): Promise<ExpertSession> {
        if (host.dead) throw unavailable();
        if (!host.experts.includes(expertId)) throw new SwarmpathError('UNKNOWN_EXPERT', expertId);
        host.opened++;
        host.activeSessions++;
        const history: Float32Array[] = [];
        let closed = false;
        return {
          // Like a real session stream, it reads closed once its host is gone.
          get closed() { return closed || host.dead; },
          close() { if (!closed) { closed = true; host.activeSessions--; } },
          async step(hidden, position, opts) {
            if (closed) throw new SwarmpathError('UNKNOWN_SESSION', 'closed');
            if (host.dead) throw unavailable();
            if (position > history.length) throw new SwarmpathError('INVALID_ARGUMENT', `position ${position} > ${history.length}`);
            if (position + hidden.dims[1] > maxLength) throw new SwarmpathError('INVALID_ARGUMENT', 'beyond max_length');
            if (host.opts.failWith) throw new SwarmpathError(host.opts.failWith, 'told to fail');
            if (host.opts.hang) {
              await new Promise((_r, reject) => setTimeout(() => reject(new SwarmpathError('DEADLINE_EXCEEDED', 'deadline')), Math.max(0, opts.deadlineMs - Date.now())));
            }
            if (host.opts.gate && host.steps >= (host.opts.gateAfterSteps ?? 0)) await host.opts.gate;
            host.steps++;
            host.positions.push(position);
            if (host.opts.dieAfterSteps !== undefined && host.steps > host.opts.dieAfterSteps) { host.dead = true; throw unavailable(); }
            history.length = position;
            const out = toyExpert(expertId, history, hidden);
            if (host.opts.nanSession) out.data[0] = NaN;
            return host.opts.perturbSession ? shifted(out, host.opts.perturbSession) : out;
          },
        };
      },
      close() {},
    };
  }
}

/** A static discovery over fake hosts (mutable: push or splice `hosts`). */
export class FakeDiscovery implements Discovery {
  readonly hosts: FakeHost[];
  queries = 0;
  constructor(hosts: FakeHost[]) { this.hosts = hosts; }
  async replicas(model: string, expertId: string): Promise<HostRecord[]> {
    this.queries++;
    return this.hosts.filter((h) => h.experts.includes(expertId)).map((h) => h.record(model));
  }
  async allHosts(): Promise<HostRecord[]> {
    return this.hosts.map((h) => h.record());
  }
  connect = (address: string): ExpertClient => {
    const h = this.hosts.find((x) => x.grpc === address);
    if (!h) throw new Error(`no fake host at ${address}`);
    return h.client();
  };
}

/** Discovery answering a fixed list of records (set `answer`), copies each time. */
export class StaticDiscovery implements Discovery {
  answer: HostRecord[] = [];
  async replicas(_model: string, expertId: string): Promise<HostRecord[]> {
    return this.answer.filter((r) => r.experts.includes(expertId)).map((r) => ({ ...r }));
  }
  async allHosts(): Promise<HostRecord[]> { return this.answer; }
}
