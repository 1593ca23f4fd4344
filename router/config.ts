/**
 * The router's configuration: one flag schema (shared/cli-args.ts) parsed once from argv and the
 * environment, validated, frozen. A bad flag fails fast naming the flag.
 */
import { readFileSync } from 'node:fs';
import { ALLOW_PRIVATE_FLAG, parseFlags, parseHostPort, type FlagSpecs } from '../shared/cli-args.ts';
import { BadConfigError } from '../shared/errors.ts';
import { DEFAULT_MAX_CONNECTIONS, MIN_MAX_CONNECTIONS } from '../shared/dht/connection-trim.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import { parseKeyFile } from './http/auth.ts';
import type { ChainMode } from './path-session.ts';

export const ROUTER_USAGE = 'swarmpath router --model DIR [--bootstrap MA]… [--http-listen H:P] [--api-key K]… [--api-key-file PATH]';

export const ROUTER_FLAGS = Object.freeze({
  model: { kind: 'string', help: 'model package folder (the router loads tokenizer, stem and head)', env: 'SWARMPATH_MODEL', default: 'models/swarmpath-tiny' },
  bootstrap: { kind: 'list', help: 'multiaddr of a DHT peer to join through (repeatable)', env: 'SWARMPATH_BOOTSTRAP' },
  'http-listen': { kind: 'string', help: 'HOST:PORT of the HTTP API (port 0 picks one)', env: 'SWARMPATH_HTTP_LISTEN', default: '127.0.0.1:8080' },
  listen: { kind: 'list', help: 'libp2p listen multiaddr (repeatable)', default: ['/ip4/127.0.0.1/tcp/0'] },
  'api-key': { kind: 'list', help: 'accepted API key (repeatable); none = open API', env: 'SWARMPATH_API_KEYS' },
  'api-key-file': { kind: 'string', help: 'file of accepted API keys, one per line (blank lines and # comments skipped); adds to --api-key', env: 'SWARMPATH_API_KEY_FILE' },
  'max-concurrent': { kind: 'int', help: 'generations run at once', default: 8, min: 1 },
  'max-queue': { kind: 'int', help: 'generations waiting for a slot before 429', default: 32, min: 0 },
  'queue-timeout-s': { kind: 'number', help: 'longest wait for a slot, seconds (then 429)', default: 30, min: 0 },
  'max-queue-per-client': { kind: 'int', help: 'generations one client (API key, or address when keys are off) may have waiting beyond its fair share of --max-concurrent before 429', default: 4, min: 0 },
  'spare-slots': { kind: 'int', help: 'generation slots a client beyond its fair share leaves free, so that another client starts at once (at most --max-concurrent - 1)', default: 1, min: 0 },
  'headers-timeout-s': { kind: 'number', help: 'longest time to receive the headers of a request, seconds (then 408)', default: 10, min: 0.1 },
  'body-timeout-s': { kind: 'number', help: 'longest time to receive a request body once the request may run, seconds (then 408)', default: 10, min: 0.1 },
  'write-timeout-s': { kind: 'number', help: 'longest wait for a client to take more of a response (a stream\'s next event), seconds; then the generation stops and the connection closes', default: 30, min: 0.1 },
  'max-connections': { kind: 'int', help: 'open HTTP connections at most (more are closed at once)', default: 1024, min: 1 },
  'request-timeout-s': { kind: 'number', help: 'longest generation, seconds', default: 300, min: 1 },
  'replica-wait-s': { kind: 'number', help: 'how long to wait for a live replica of a needed expert before 503, seconds', default: 10, min: 0 },
  'discovery-cache-s': { kind: 'number', help: 'reuse discovery results this long before refreshing them in the background, seconds (a failed call, or an expert with no replica, refreshes sooner)', default: 30, min: 0 },
  'step-timeout-s': { kind: 'number', help: 'deadline of one stage step on a host, seconds', default: 10, min: 0.05 },
  'verify-hosts': { kind: 'boolean', help: "check each host's output against the manifest probe before it gets work, and at random times after (--no-verify-hosts trusts hosts)", default: true },
  'verify-every-s': { kind: 'number', help: 'mean interval between probe checks of one host and expert, seconds', default: 600, min: 1 },
  'spot-check': { kind: 'number', help: "share of real steps recomputed on a second replica and compared (a host's first step always is); 0 turns sampling off", default: 0.05, min: 0, max: 1 },
  'distrust-s': { kind: 'number', help: 'how long a host that failed its probe gets no work, seconds', default: 600, min: 1 },
  'reroute-every': { kind: 'int', help: 'choose the path again after every N generated tokens from the last prefix_bytes bytes of the context (DiPaCo re-routing; moved stages are prefilled with the whole context); 0 = route once, on the prompt', env: 'SWARMPATH_REROUTE_EVERY', default: 0, min: 0 },
  chain: { kind: 'string', help: "host-to-host forwarding: each stage's host sends its output straight to the next stage's host (every host still answers the router, which checks and records it). auto: unless every host of the path is on this machine (there relaying costs less CPU; BENCHMARKS.md); off: the router relays every hop", env: 'SWARMPATH_CHAIN', default: 'auto', choices: ['auto', 'on', 'off'] },
  'prefill-chunk': { kind: 'int', help: 'a prompt of at least twice this many tokens goes through the stages in chunks of this many, pipelined (each stage works on one chunk while the next stage works on the one before); 0 = in one step', default: 256, min: 0 },
  'wire-dtype': { kind: 'string', help: 'activations on the wire (float16 halves traffic, changes numbers slightly)', default: 'float32', choices: ['float32', 'float16'] },
  'drain-grace-s': { kind: 'number', help: 'on SIGTERM, wait this long for in-flight requests, seconds', default: 30, min: 0 },
  'body-limit-kb': { kind: 'int', help: 'largest request body, KiB (then 413)', default: 1024, min: 1 },
  threads: { kind: 'int', help: 'onnxruntime intra-op threads for stem and head', default: 1, min: 1 },
  'max-batch': { kind: 'int', help: "most concurrent requests' decode steps in one stem or head call (1: each alone)", default: 64, min: 1 },
  'key-file': { kind: 'string', help: 'persist the libp2p key here' },
  'dht-max-connections': { kind: 'int', help: `libp2p connections held before idle ones are closed (down to two thirds; kad-dht's closest peers stay); below ~the swarm's size, redials cost more CPU than the connections`, default: DEFAULT_MAX_CONNECTIONS, min: MIN_MAX_CONNECTIONS },
  'allow-private-addresses': ALLOW_PRIVATE_FLAG,
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs);

export interface RouterConfig {
  model: string;
  bootstrap: readonly string[];
  httpHost: string;
  httpPort: number;
  listen: readonly string[];
  /** --api-key, SWARMPATH_API_KEYS and the lines of --api-key-file. */
  apiKeys: readonly string[];
  maxConcurrent: number;
  maxQueue: number;
  queueTimeoutMs: number;
  requestTimeoutMs: number;
  noReplicaWaitMs: number;
  stepTimeoutMs: number;
  discoveryCacheMs: number;
  verifyHosts: boolean;
  /** Use hosts that announce loopback, private or named addresses (a LAN, a cluster, `swarm`). */
  allowPrivateAddresses: boolean;
  verifyEveryMs: number;
  distrustMs: number;
  /** Share of steps cross-checked on other replicas once a replica passed its first check. */
  spotCheck: number;
  wireDtype: WireDtype;
  /** Chained steps (host-to-host forwarding, router/path-session.ts). */
  chain: ChainMode;
  /** Re-route after every N generated tokens (0: never). */
  rerouteEvery: number;
  drainGraceMs: number;
  bodyLimitBytes: number;
  /** The HTTP edge's limits, named as createRouterApi takes them (router/http/server.ts). */
  httpEdge: Readonly<{
    maxQueuePerClient: number;
    spareSlots: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    writeTimeoutMs: number;
    maxConnections: number;
  }>;
  threads: number;
  /** --prefill-chunk: positions of a pipelined prefill's chunks (0: none). */
  prefillChunk: number;
  /** --max-batch: rows of one batched stem or head call. */
  maxBatch: number;
  keyFile?: string;
  /** --dht-max-connections: the libp2p node's high mark (shared/dht/connection-trim.ts). */
  dhtMaxConnections: number;
  help: boolean;
}

export function parseRouterConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): RouterConfig {
  const { flags: f, args } = parseFlags(argv, ROUTER_FLAGS, env);
  if (args.length > 0) throw new BadConfigError(`unexpected argument ${JSON.stringify(args[0])}; usage: ${ROUTER_USAGE}`);
  const http = parseHostPort('http-listen', f['http-listen']);
  return Object.freeze({
    model: f.model,
    bootstrap: Object.freeze([...(f.bootstrap ?? [])]),
    httpHost: http.host,
    httpPort: http.port,
    listen: Object.freeze([...f.listen]),
    apiKeys: Object.freeze([
      ...[...(f['api-key'] ?? [])].flatMap((k) => k.split(',')).map((k) => k.trim()).filter(Boolean),
      ...(f['api-key-file'] !== undefined ? readKeyFile(f['api-key-file']) : []),
    ]),
    maxConcurrent: f['max-concurrent'],
    maxQueue: f['max-queue'],
    queueTimeoutMs: f['queue-timeout-s'] * 1000,
    requestTimeoutMs: f['request-timeout-s'] * 1000,
    noReplicaWaitMs: f['replica-wait-s'] * 1000,
    stepTimeoutMs: f['step-timeout-s'] * 1000,
    discoveryCacheMs: f['discovery-cache-s'] * 1000,
    verifyHosts: f['verify-hosts'],
    allowPrivateAddresses: f['allow-private-addresses'],
    verifyEveryMs: f['verify-every-s'] * 1000,
    distrustMs: f['distrust-s'] * 1000,
    spotCheck: f['spot-check'],
    wireDtype: f['wire-dtype'],
    chain: f.chain as ChainMode,
    rerouteEvery: f['reroute-every'],
    drainGraceMs: f['drain-grace-s'] * 1000,
    bodyLimitBytes: f['body-limit-kb'] * 1024,
    httpEdge: Object.freeze({
      maxQueuePerClient: f['max-queue-per-client'],
      spareSlots: f['spare-slots'],
      headersTimeoutMs: f['headers-timeout-s'] * 1000,
      bodyTimeoutMs: f['body-timeout-s'] * 1000,
      writeTimeoutMs: f['write-timeout-s'] * 1000,
      maxConnections: f['max-connections'],
    }),
    threads: f.threads,
    maxBatch: f['max-batch'],
    prefillChunk: f['prefill-chunk'],
    ...(f['key-file'] !== undefined ? { keyFile: f['key-file'] } : {}),
    dhtMaxConnections: f['dht-max-connections'],
    help: f.help === true,
  });
}

/** The keys of --api-key-file; a missing, unreadable or keyless file fails fast. */
function readKeyFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BadConfigError(`--api-key-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const r = parseKeyFile(text);
  if ('error' in r) throw new BadConfigError(`--api-key-file ${path}: ${r.error}`);
  return r.keys;
}
