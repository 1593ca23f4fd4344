/**
 * The expert host's configuration: one flag schema (shared/cli-args.ts), parsed once from argv and
 * the environment, validated, frozen. A bad flag fails fast naming the flag.
 */
import { BadConfigError } from '../shared/errors.ts';
import { ALLOW_PRIVATE_FLAG, parseFlags, parseHostPort, type FlagSpecs } from '../shared/cli-args.ts';
import { MAX_RECORD_TTL_S } from '../shared/dht/host-record-schema.ts';
import { DEFAULT_MAX_CONNECTIONS, MIN_MAX_CONNECTIONS } from '../shared/dht/connection-trim.ts';
import type { Device } from '../shared/runtime-types.ts';
import type { HostLimits } from './host-limits.ts';

/**
 * Rows of one batched onnxruntime call unless --max-batch says otherwise. On a CPU, smaller batches
 * split a wave of concurrent sessions into micro-batches, so that the next stage (or the router)
 * works on one while this host computes the next: at 32 sessions on the 2-core bench machine, 12 to 24
 * rows gave 7-11 % more tokens/s than 32 in paired rounds (and the same at 64 sessions; BENCHMARKS.md,
 * "Day 10"). A GPU gains more from wide batches; its default stays 32.
 */
export const DEFAULT_MAX_BATCH: Readonly<Record<Device, number>> = Object.freeze({ cpu: 16, cuda: 32 });

export const HOST_USAGE = 'swarmpath host --model DIR (--expert ID… | --auto) [flags]';

export const HOST_FLAGS = Object.freeze({
  model: { kind: 'string', help: 'model package folder', env: 'SWARMPATH_MODEL' },
  expert: { kind: 'list', help: 'expert id to serve (repeatable, or comma-separated)' },
  auto: { kind: 'boolean', help: 'let the swarm decide which expert to serve', default: false },
  bootstrap: { kind: 'list', help: 'multiaddr of a DHT peer to join through (repeatable)', env: 'SWARMPATH_BOOTSTRAP' },
  'grpc-listen': { kind: 'string', help: 'HOST:PORT of the gRPC server', default: '127.0.0.1:0' },
  listen: { kind: 'list', help: 'libp2p listen multiaddr (repeatable)', default: ['/ip4/127.0.0.1/tcp/0'] },
  device: { kind: 'string', help: 'onnxruntime device (cuda falls back to cpu)', default: 'cpu', choices: ['cpu', 'cuda'] },
  'record-ttl': { kind: 'number', help: 'DHT record lifetime, seconds (refreshed every TTL/2, at most every 5 min, jittered)', default: 600, min: 2, max: MAX_RECORD_TTL_S },
  store: { kind: 'string', help: 'folder where fetched shards are kept' },
  'kv-cache-mb': { kind: 'number', help: 'KV cache budget, MiB', default: 512, min: 0 },
  'session-idle-s': { kind: 'number', help: 'evict sessions idle this long, seconds', default: 300, min: 0.1 },
  'drain-grace-s': { kind: 'number', help: 'on SIGTERM, wait this long for in-flight work, seconds', default: 10, min: 0 },
  'max-batch': { kind: 'int', help: `most rows merged into one onnxruntime call (default ${DEFAULT_MAX_BATCH.cpu} on cpu, ${DEFAULT_MAX_BATCH.cuda} on cuda)`, min: 1 },
  'batch-wait-ms': { kind: 'number', help: 'longest wait for company before running a batch, ms', default: 0, min: 0, max: 100 },
  'batch-kv-mb': { kind: 'number', help: "largest padded KV cache of one batched call, MiB (default: the expert's weight bytes, at least 1)", min: 0 },
  'max-message-mb': { kind: 'number', help: 'largest gRPC message sent or accepted, MiB', default: 64, min: 0.01 },
  // Per-peer limits (peer-key.ts: a peer is an IPv4 address, an IPv6 /64, or one loopback connection).
  'peer-kv-share': { kind: 'number', help: 'share of --kv-cache-mb guaranteed to each peer; a peer may use more while it is free, and what it holds past its share is reclaimed when a peer within its share needs room', default: 0.25, min: 0.01, max: 1 },
  'peer-max-connections': { kind: 'int', help: 'TCP connections one peer may hold open; past it a new one is closed at once (a router or host needs one)', default: 64, min: 1 },
  'max-connections': { kind: 'int', help: 'TCP connections open in all', default: 2048, min: 1 },
  'peer-info-rate': { kind: 'number', help: 'Info calls one peer may make a second (bursts of two seconds\' worth); past it RESOURCE_EXHAUSTED', default: 20, min: 0.1 },
  'peer-max-sessions': { kind: 'int', help: 'Session streams one peer may hold open', default: 256, min: 1 },
  'max-sessions': { kind: 'int', help: 'Session streams open in all', default: 2048, min: 1 },
  'open-idle-s': { kind: 'number', help: 'end sessions (and streams) opened but never stepped after this long, seconds', default: 20, min: 0.1 },
  'max-steps-in-flight': { kind: 'int', help: 'steps sent on one Session stream and not yet answered; one more ends the stream (RESOURCE_EXHAUSTED)', default: 8, min: 1 },
  'max-queue': { kind: 'int', help: 'calls waiting for an expert (not running); past it calls are refused (RESOURCE_EXHAUSTED)', default: 512, min: 1 },
  'peer-max-forward': { kind: 'int', help: 'concurrent Forward calls of one peer', default: 8, min: 1 },
  'max-forward': { kind: 'int', help: 'concurrent Forward calls in all', default: 64, min: 1 },
  'peer-max-fetch': { kind: 'int', help: 'concurrent FetchShard streams of one peer', default: 2, min: 1 },
  'max-fetch': { kind: 'int', help: 'concurrent FetchShard streams in all', default: 8, min: 1 },
  'peer-inflight-mb': { kind: 'number', help: 'request bytes of one peer received and not yet answered, MiB (at least --max-message-mb)', default: 128, min: 0.01 },
  'max-inflight-mb': { kind: 'number', help: 'request bytes received and not yet answered in all, MiB', default: 512, min: 0.01 },
  threads: { kind: 'int', help: 'onnxruntime intra-op threads per expert', default: 1, min: 1 },
  'key-file': { kind: 'string', help: 'persist the libp2p key here' },
  'dht-max-connections': { kind: 'int', help: `libp2p connections held before idle ones are closed (down to two thirds; kad-dht's closest peers stay); below ~the swarm's size, redials cost more CPU than the connections`, default: DEFAULT_MAX_CONNECTIONS, min: MIN_MAX_CONNECTIONS },
  dht: { kind: 'boolean', help: 'join the DHT (--no-dht serves gRPC only: tests, benchmarks)', default: true },
  rebalance: { kind: 'boolean', help: 'move to experts that need hosts more (over-provisioned or unserved); default: on with --auto, off with --expert (--no-rebalance pins an --auto host after its first choice)' },
  'target-replicas': { kind: 'int', help: 'replicas every expert should have (rebalancing)', default: 2, min: 1 },
  'rebalance-interval-s': { kind: 'number', help: 'mean seconds between rebalancing checks (jittered ±50%); each costs one provider lookup per expert and a few Info calls, whatever the swarm size', default: 60, min: 0.1 },
  'rebalance-delay-s': { kind: 'number', help: 'seconds before the first rebalancing check (default: 1 to 2 intervals with --expert, so a swarm starting up settles first; one interval with --auto)', min: 0 },
  'metrics-listen': { kind: 'string', help: 'HOST:PORT serving Prometheus text at GET /metrics (off unless given)' },
  'allow-private-addresses': ALLOW_PRIVATE_FLAG,
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs);

export interface HostConfig {
  model: string;
  experts: readonly string[];
  auto: boolean;
  bootstrap: readonly string[];
  grpcHost: string;
  grpcPort: number;
  listen: readonly string[];
  device: Device;
  recordTtlS: number;
  store?: string;
  kvCacheBytes: number;
  sessionIdleMs: number;
  drainGraceMs: number;
  maxBatch: number;
  batchWaitMs: number;
  /** Bound of one batched call's padded KV cache, bytes; undefined: per expert, max(1 MiB, its file size). */
  batchKvBytes?: number;
  maxMessageBytes: number;
  /** Share of kvCacheBytes guaranteed to each peer (kv-share.ts). */
  peerKvShare: number;
  /** Idle time of a session never stepped, ms. */
  openIdleMs: number;
  /** Calls waiting per expert. */
  maxQueue: number;
  /** Per-peer and host-wide limits of the gRPC server. */
  limits: HostLimits;
  threads: number;
  keyFile?: string;
  /** --dht-max-connections: the libp2p node's high mark (shared/dht/connection-trim.ts). */
  dhtMaxConnections: number;
  dht: boolean;
  /** Use other hosts that announce loopback, private or named addresses (rebalancing's Info calls). */
  allowPrivateAddresses: boolean;
  /** Rebalancing (expert-host/rebalancing/): --rebalance, else on for --auto; never without the DHT. */
  rebalance: boolean;
  targetReplicas: number;
  rebalanceIntervalMs: number;
  /** Delay of the first rebalancing check, ms; undefined: the default of host-rebalancing.ts. */
  rebalanceDelayMs?: number;
  /** --metrics-listen: where to serve Prometheus text; undefined: not served. */
  metricsListen?: { host: string; port: number };
  help: boolean;
}

/** Parses and validates the host's flags. */
export function parseHostConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): HostConfig {
  const { flags: f, args } = parseFlags(argv, HOST_FLAGS, env);
  if (args.length > 0) throw new BadConfigError(`unexpected argument ${JSON.stringify(args[0])}; usage: ${HOST_USAGE}`);
  const help = f.help === true;
  const experts = (f.expert ?? []).flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean);
  if (!help) {
    if (!f.model) throw new BadConfigError('--model DIR is required (or SWARMPATH_MODEL)');
    if (experts.length === 0 && f.auto !== true) throw new BadConfigError('give --expert ID (repeatable) or --auto');
    for (const e of experts) if (!/^L\d+\.\d+$/.test(e)) throw new BadConfigError(`--expert must look like L0.3; got ${JSON.stringify(e)}`);
  }
  const { host, port } = parseHostPort('grpc-listen', f['grpc-listen']);
  const metricsListen = f['metrics-listen'] ? parseHostPort('metrics-listen', f['metrics-listen']) : undefined;
  const mib = (k: 'peer-inflight-mb' | 'max-inflight-mb' | 'max-message-mb') => Math.floor(f[k] * 1024 * 1024);
  if (mib('peer-inflight-mb') < mib('max-message-mb')) {
    throw new BadConfigError(`--peer-inflight-mb (${f['peer-inflight-mb']}) must be at least --max-message-mb (${f['max-message-mb']}), or a message of the largest size is always refused`);
  }
  const openIdleMs = Math.min(f['open-idle-s'], f['session-idle-s']) * 1000;
  type IntFlag = 'peer-max-connections' | 'max-connections' | 'peer-max-sessions' | 'max-sessions' | 'peer-max-forward' | 'max-forward' | 'peer-max-fetch' | 'max-fetch';
  const lim = (peer: IntFlag, total: IntFlag) => Object.freeze({ perPeer: f[peer], total: f[total] });
  const limits: HostLimits = Object.freeze({
    ledger: Object.freeze({
      connections: lim('peer-max-connections', 'max-connections'),
      streams: lim('peer-max-sessions', 'max-sessions'), forwards: lim('peer-max-forward', 'max-forward'), fetches: lim('peer-max-fetch', 'max-fetch'),
      inflightBytes: Object.freeze({ perPeer: mib('peer-inflight-mb'), total: mib('max-inflight-mb') }),
    }),
    session: Object.freeze({ maxStepsInFlight: f['max-steps-in-flight'], openTimeoutMs: openIdleMs }),
    infoPerS: f['peer-info-rate'],
  });
  return Object.freeze({
    model: f.model ?? '',
    experts: Object.freeze([...new Set(experts)]),
    auto: f.auto === true,
    bootstrap: Object.freeze([...(f.bootstrap ?? [])]),
    grpcHost: host,
    grpcPort: port,
    listen: Object.freeze([...f.listen]),
    device: f.device,
    recordTtlS: f['record-ttl'],
    store: f.store,
    kvCacheBytes: Math.floor(f['kv-cache-mb'] * 1024 * 1024),
    sessionIdleMs: f['session-idle-s'] * 1000,
    drainGraceMs: f['drain-grace-s'] * 1000,
    maxBatch: f['max-batch'] ?? DEFAULT_MAX_BATCH[f.device as Device],
    batchWaitMs: f['batch-wait-ms'],
    batchKvBytes: f['batch-kv-mb'] === undefined ? undefined : Math.floor(f['batch-kv-mb'] * 1024 * 1024),
    maxMessageBytes: mib('max-message-mb'),
    peerKvShare: f['peer-kv-share'],
    openIdleMs,
    maxQueue: f['max-queue'],
    limits,
    threads: f.threads,
    keyFile: f['key-file'],
    dhtMaxConnections: f['dht-max-connections'],
    dht: f.dht,
    allowPrivateAddresses: f['allow-private-addresses'] === true,
    metricsListen,
    rebalance: (f.rebalance === undefined ? f.auto === true : f.rebalance === true) && f.dht,
    targetReplicas: f['target-replicas'],
    rebalanceIntervalMs: f['rebalance-interval-s'] * 1000,
    rebalanceDelayMs: f['rebalance-delay-s'] === undefined ? undefined : f['rebalance-delay-s'] * 1000,
    help,
  });
}
