/**
 * Binds the host core to the wire: the ExpertHost gRPC service (Info, Forward, Session, FetchShard)
 * on one grpc-js server with explicit message size limits. Every handler answers bad input with a
 * status and a message (shared/grpc/errors.ts); nothing a client sends can crash the host.
 */
import * as grpc from '@grpc/grpc-js';
import { SwarmpathError } from '../shared/errors.ts';
import { serverChannelOptions } from '../shared/grpc/channel-options.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';
import { expertHostService } from '../shared/grpc/proto.ts';
import { decodeTensor, encodeTensor, wireDtypeOf } from '../shared/grpc/tensor-codec.ts';
import type { ForwardRequestMsg, ForwardResponseMsg, InfoResponseMsg } from '../shared/grpc/wire-types.ts';
import type { Logger } from '../shared/log.ts';
import type { HostCore } from './host-core.ts';
import { createSessionRegistry, handleSession, type SessionCall } from './session-handler.ts';
import { handleFetchShard, type ShardCall } from './shard-handler.ts';

export interface GrpcServerInit {
  core: HostCore;
  log: Logger;
  maxMessageBytes: number;
  /** Counts answered calls (metrics). */
  onRpc?: (method: string, code: number) => void;
}

export interface HostGrpcServer {
  /** Binds `host:port` (port 0 picks one); resolves the bound `host:port`. */
  listen(host: string, port: number): Promise<string>;
  /** Open Session streams. */
  sessions(): number;
  /** Ends every Session stream with `err` (shutdown). */
  endSessions(err: SwarmpathError): void;
  /** Stops accepting calls and closes the server (forcibly after `graceMs`). */
  stop(graceMs: number): Promise<void>;
}

/** Creates the server (not yet listening). */
export function createGrpcServer(init: GrpcServerInit): HostGrpcServer {
  const { core, log } = init;
  const server = new grpc.Server(serverChannelOptions(init.maxMessageBytes));
  const registry = createSessionRegistry();
  const rpc = (m: string, code: number) => init.onRpc?.(m, code);

  server.addService(expertHostService(), {
    Info(_call: grpc.ServerUnaryCall<unknown, InfoResponseMsg>, cb: grpc.sendUnaryData<InfoResponseMsg>) {
      rpc('Info', 0);
      cb(null, core.info());
    },
    Forward(call: grpc.ServerUnaryCall<ForwardRequestMsg, ForwardResponseMsg>, cb: grpc.sendUnaryData<ForwardResponseMsg>) {
      const req = call.request;
      const run = async (): Promise<ForwardResponseMsg> => {
        const hidden = decodeTensor(req.hidden, [null, null, core.dims.d_model], 'Forward hidden');
        const out = await core.forward(req.expertId, hidden);
        const reply = wireDtypeOf(req.replyDtype) ?? wireDtypeOf(req.hidden?.dtype) ?? 'float32';
        return { hidden: encodeTensor({ data: out, dims: hidden.dims }, reply) };
      };
      run().then((r) => { rpc('Forward', 0); cb(null, r); }, (err) => {
        const e = toGrpcError(err);
        rpc('Forward', e.code);
        cb(e);
      });
    },
    Session(call: SessionCall) {
      rpc('Session', 0);
      handleSession(call, core, registry, log);
    },
    FetchShard(call: ShardCall) {
      rpc('FetchShard', 0);
      void handleFetchShard(call, core);
    },
  });

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
          if (err) reject(new SwarmpathError('BAD_CONFIG', `cannot listen on ${host}:${port}: ${err.message}`));
          else resolve(`${host.includes(':') ? `[${host}]` : host}:${bound}`);
        });
      });
    },
    sessions: () => registry.size(),
    endSessions: (err) => registry.endAll(err),
    stop(graceMs) {
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => { server.forceShutdown(); resolve(); }, graceMs);
        server.tryShutdown(() => { clearTimeout(t); resolve(); });
      });
    },
  };
}
