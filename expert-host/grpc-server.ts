/**
 * Binds the host core to the wire: the ExpertHost gRPC service (Info, Forward, Session, Sessions, FetchShard, Push)
 * on one grpc-js server with explicit message size and connection limits (host-limits.ts). Every
 * handler answers bad input with a status and a message (shared/grpc/errors.ts); nothing a client
 * sends can crash the host. Each connection and call is charged to its peer (peer-key.ts) in one
 * ledger (peer-ledger.ts): connections, Session streams, concurrent Forward calls and FetchShard
 * streams, request bytes in flight; Info calls are rate-limited per peer (rate-limit.ts) and report
 * to each caller the KV bytes it could reserve. A Push stream (host-to-host
 * forwarding) or a `Sessions` stream (session-mux.ts, each of its sessions one more) holds one of its peer's stream slots, and each pushed step its bytes in the peer's
 * in-flight budget until it has run (push-inbox.ts); chained steps push on with pusher.ts.
 */
import { createServer, type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BadConfigError, ResourceExhaustedError, SwarmpathError } from '../shared/errors.ts';
import { serverChannelOptions } from '../shared/grpc/channel-options.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';
import { expertHostService } from '../shared/grpc/proto.ts';
import { decodeTensor, encodeTensor, wireDtypeOf } from '../shared/grpc/tensor-codec.ts';
import type { ForwardRequestMsg, ForwardResponseMsg, InfoRequestMsg, InfoResponseMsg, PushRequestMsg, PushResponseMsg } from '../shared/grpc/wire-types.ts';
import { signInfoNonce } from '../shared/identity.ts';
import type { Logger } from '../shared/log.ts';
import type { HostCore } from './host-core.ts';
import { hostServerOptions, UNLIMITED, type HostLimits } from './host-limits.ts';
import { peerKey } from './peer-key.ts';
import { createPeerLedger, holdForCall, type Lease, type PeerLedger } from './peer-ledger.ts';
import { createPushRegistry } from './push-inbox.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createPusher } from './pusher.ts';
import { createSessionRegistry, handleSession, type SessionCall } from './session-handler.ts';
import { handleSessionMux, type MuxSet, type SessionsCall } from './session-mux.ts';
import { handleFetchShard, type ShardCall } from './shard-handler.ts';

export interface GrpcServerInit {
  core: HostCore;
  log: Logger;
  maxMessageBytes: number;
  /** Per-peer and host-wide limits (default: none). */
  limits?: HostLimits;
  /** Counts answered calls (metrics). */
  onRpc?: (method: string, code: number) => void;
  /** Signs with the host's libp2p key (absent without a DHT identity: Info then signs nothing). */
  sign?: (data: Uint8Array) => Promise<Uint8Array>;
  /** Whether chained steps may push to loopback, private or named addresses (`--allow-private-addresses`). */
  allowPrivateAddresses?: boolean;
}

export interface HostGrpcServer {
  /** Binds `host:port` (port 0 picks one); resolves the bound `host:port`. */
  listen(host: string, port: number): Promise<string>;
  /** Open Session streams. */
  sessions(): number;
  /** What each peer holds (connections, Session streams, concurrent calls, bytes in flight). */
  readonly ledger: PeerLedger;
  /** gRPC connections open now, and refused on accept since the server started. */
  connections(): { open: number; refused: number };
  /** Ends every Session stream with `err` (shutdown). */
  endSessions(err: SwarmpathError): void;
  /** Stops accepting calls and closes the server (forcibly after `graceMs`). */
  stop(graceMs: number): Promise<void>;
}

/** Creates the server (not yet listening). */
export function createGrpcServer(init: GrpcServerInit): HostGrpcServer {
  const { core, log } = init;
  const limits = init.limits ?? UNLIMITED;
  const server = new grpc.Server({ ...serverChannelOptions(init.maxMessageBytes), ...hostServerOptions(limits.ledger) });
  const registry = createSessionRegistry();
  const ledger = createPeerLedger(limits.ledger);
  const rpc = (m: string, code: number) => init.onRpc?.(m, code);
  const pushes = createPushRegistry();
  const pusher = createPusher({ allowPrivateAddresses: init.allowPrivateAddresses ?? false, maxMessageBytes: init.maxMessageBytes }, log);
  const chain = { registry: pushes, pusher };
  const muxes: MuxSet = new Set();
  const infoRate = Number.isFinite(limits.infoPerS) ? createRateLimiter({ perS: limits.infoPerS, burst: Math.max(1, 2 * limits.infoPerS) }) : undefined;

  server.addService(expertHostService(), {
    Info(call: grpc.ServerUnaryCall<InfoRequestMsg, InfoResponseMsg>, cb: grpc.sendUnaryData<InfoResponseMsg>) {
      const peer = peerKey(call.getPeer());
      if (infoRate && !infoRate.take(peer)) {
        rpc('Info', grpc.status.RESOURCE_EXHAUSTED);
        cb(toGrpcError(new ResourceExhaustedError(`per-peer limit: ${peer} called Info more than ${limits.infoPerS} times a second (--peer-info-rate); call less often`)));
        return;
      }
      rpc('Info', 0);
      const { identitySignature: _none, ...info } = core.info(peer);
      const nonce = call.request?.nonce ?? Buffer.alloc(0);
      // Identity (shared/identity.ts): the caller's nonce signed with this host's libp2p key.
      const signing = init.sign ? signInfoNonce(init.sign, nonce) : Promise.resolve(undefined);
      signing.then((sig) => cb(null, { ...info, identitySignature: Buffer.from(sig ?? []) }),
        (err) => cb(toGrpcError(err)));
    },
    Forward(call: grpc.ServerUnaryCall<ForwardRequestMsg, ForwardResponseMsg>, cb: grpc.sendUnaryData<ForwardResponseMsg>) {
      const req = call.request;
      const peer = peerKey(call.getPeer());
      const leases: Lease[] = [];
      const run = async (): Promise<ForwardResponseMsg> => {
        leases.push(ledger.acquire(peer, 'forwards'));
        leases.push(ledger.acquire(peer, 'inflightBytes', req.hidden?.data?.byteLength ?? 0));
        const hidden = decodeTensor(req.hidden, [null, null, core.dims.d_model], 'Forward hidden');
        const out = await core.forward(req.expertId, hidden);
        const reply = wireDtypeOf(req.replyDtype) ?? wireDtypeOf(req.hidden?.dtype) ?? 'float32';
        return { hidden: encodeTensor({ data: out, dims: hidden.dims }, reply) };
      };
      run().then((r) => { rpc('Forward', 0); cb(null, r); }, (err) => {
        const e = toGrpcError(err);
        rpc('Forward', e.code);
        cb(e);
      }).finally(() => { for (const l of leases) l.release(); });
    },
    Session(call: SessionCall) {
      rpc('Session', 0);
      handleSession(call, core, registry, log, { peer: peerKey(call.getPeer()), ledger, limits: limits.session, chain });
    },
    Sessions(call: SessionsCall) {
      rpc('Sessions', 0);
      const peer = peerKey(call.getPeer());
      handleSessionMux(call, {
        peer, ledger,
        serve: (sub) => handleSession(sub, core, registry, log, { peer, ledger, limits: limits.session, chain }),
      }, muxes);
    },
    Push(call: grpc.ServerDuplexStream<PushRequestMsg, PushResponseMsg>) {
      rpc('Push', 0);
      const peer = peerKey(call.getPeer());
      if (!holdForCall(call, ledger, peer, 'streams')) return;
      call.on('data', (req: PushRequestMsg) => {
        // Only a refused push is answered, with its reason; the stream goes on.
        try {
          // This lease travels with the pushed step and is released once it has run (or is dropped).
          const bytes = ledger.acquire(peer, 'inflightBytes', req.hidden?.data?.byteLength ?? 0);
          let hidden;
          try {
            hidden = decodeTensor(req.hidden, [1, null, core.dims.d_model], 'Push hidden');
          } catch (err) {
            bytes.release();
            throw err;
          }
          pushes.deliver(req.sessionId, req.tag, { pushId: req.pushId, stepId: req.stepId, position: req.position, hidden, next: req.next }, bytes);
        } catch (err) {
          call.write({ pushId: req.pushId, error: err instanceof Error ? err.message : String(err) });
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
    FetchShard(call: ShardCall) {
      rpc('FetchShard', 0);
      if (!holdForCall(call, ledger, peerKey(call.getPeer()), 'fetches')) return;
      void handleFetchShard(call, core);
    },
  });

  // The host owns its listening socket and hands each accepted connection to grpc-js (a connection
  // injector), so that a connection past its peer's (or the host's) limit is closed before it costs
  // an HTTP/2 session: grpc-js itself bounds streams per connection, not connections.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const tcp = createServer({ noDelay: true });
  let refused = 0;
  let refusedSince = 0;
  let refusalLogged = 0;
  tcp.on('connection', (socket) => {
    const peer = peerKey(`${socket.remoteAddress}:${socket.remotePort}`);
    let lease: Lease;
    try {
      lease = ledger.acquire(peer, 'connections');
    } catch (err) {
      socket.destroy();
      refused++;
      refusedSince++;
      // One line at most every 10 s, however hard a peer hammers.
      if (Date.now() - refusalLogged >= 10_000) {
        log.warn('connection refused', { peer, error: (err as Error).message, refusedSinceLastLine: refusedSince });
        refusalLogged = Date.now();
        refusedSince = 0;
      }
      return;
    }
    socket.once('close', () => lease.release());
    injector.injectConnection(socket);
  });

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        const fail = (err: Error) => reject(new BadConfigError(`cannot listen on ${host}:${port}: ${err.message}`));
        tcp.once('error', fail);
        tcp.listen(port, host, () => {
          tcp.off('error', fail);
          tcp.on('error', (err) => log.warn('gRPC listener error', { error: err }));
          const bound = (tcp.address() as AddressInfo).port;
          resolve(`${host.includes(':') ? `[${host}]` : host}:${bound}`);
        });
      });
    },
    sessions: () => registry.size(),
    connections: () => ({ open: ledger.used('connections'), refused }),
    ledger,
    endSessions: (err) => {
      registry.endAll(err);
      for (const m of [...muxes]) m.end();
    },
    stop(graceMs) {
      pusher.close();
      tcp.close();
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    },
  };
}
