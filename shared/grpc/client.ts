/**
 * The gRPC client of one expert host: `createExpertClient(address)` implements ExpertClient
 * (shared/transport-types.ts) over one channel. Every call has a deadline and carries the caller's
 * `traceparent` in metadata; tensors travel as raw typed bytes (float32, or float16 when asked);
 * every failure is a SwarmpathError (shared/grpc/errors.ts). Sessions share one `Sessions` stream
 * to the host (session-mux.ts) unless the host has none, or `sessionMux` is false.
 */
import * as grpc from '@grpc/grpc-js';
import { InternalError } from '../errors.ts';
import type { F32 } from '../runtime-types.ts';
import type { CallOpts, ExpertClient, ExpertSession, HostInfo, HostState } from '../transport-types.ts';
import { callMetadata, deadlineOptions, linkAbort } from './call-options.ts';
import { clientChannelOptions, DEFAULT_MAX_MESSAGE_BYTES } from './channel-options.ts';
import { fromServiceError } from './errors.ts';
import { expertHostClientConstructor } from './proto.ts';
import { openSessionOnStream, type SessionStream } from './session-client.ts';
import { SessionMux, type SessionsCall } from './session-mux.ts';
import { decodeTensor, encodeTensor, protoDtype } from './tensor-codec.ts';
import type { SessionRequestMsg, SessionResponseMsg } from './wire-types.ts';
import type { FetchShardRequestMsg, ForwardRequestMsg, ForwardResponseMsg, InfoRequestMsg, InfoResponseMsg, PushRequestMsg, PushResponseMsg, ShardChunkMsg } from './wire-types.ts';

export interface ExpertClientOptions {
  /** Largest message sent or received (default 64 MiB). */
  maxMessageBytes?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
  /** Sessions share one `Sessions` stream (default true); false: one Session stream each. */
  sessionMux?: boolean;
}

/** One chunk of a shard as FetchShard streams it. */
export interface ShardChunk {
  data: Buffer;
  offset: number;
  totalBytes: number;
  sha256: string;
}

/** ExpertClient plus the calls only hosts use (migration). */
export interface GrpcExpertClient extends ExpertClient {
  /** Streams an expert's ONNX file from byte `offset`. The deadline covers the whole transfer. */
  fetchShardChunks(expertId: string, offset: number, opts: CallOpts): AsyncIterable<ShardChunk>;
  /** Host-to-host forwarding: a stream of pushes (inputs of chained sessions' awaited steps there). */
  openPushStream(): PushStream;
}

/** Pushes written within this long are reported failed if their stream ends, ms (a push has no answer unless refused). */
const PUSH_WATCH_MS = 10_000;
/** At most this many pushes are watched per stream. */
const PUSH_WATCH_MAX = 4096;

/** One Push stream to a host. Pushes are not acknowledged: only a refusal is answered. */
export interface PushStream {
  /** Writes a push; `onFail` is called (at most once) when the host refuses it or the stream ends within PUSH_WATCH_MS of it. */
  push(req: PushRequestMsg, onFail: (reason: string) => void): void;
  /** The stream ended (a new one is needed). */
  readonly closed: boolean;
  close(): void;
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => grpc.ClientUnaryCall;
interface RawClient extends grpc.Client {
  Info: Unary<InfoRequestMsg, InfoResponseMsg>;
  Forward: Unary<ForwardRequestMsg, ForwardResponseMsg>;
  Push(md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<PushRequestMsg, PushResponseMsg>;
  Session(md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<SessionRequestMsg, SessionResponseMsg>;
  Sessions(md: grpc.Metadata, o: grpc.CallOptions): SessionsCall;
  FetchShard(req: FetchShardRequestMsg, md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientReadableStream<ShardChunkMsg>;
}

/** A client of the expert host at `address` (`host:port`). */
export function createExpertClient(address: string, opts: ExpertClientOptions = {}): GrpcExpertClient {
  const Ctor = expertHostClientConstructor();
  const raw = new Ctor(address, grpc.credentials.createInsecure(), {
    ...clientChannelOptions(opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    ...opts.channelOptions,
  }) as unknown as RawClient;

  const plainSession = (traceparent: string): SessionStream => raw.Session(callMetadata({ traceparent }), {});
  let muxSupported = opts.sessionMux ?? true;
  const mux = new SessionMux({
    openMux: () => raw.Sessions(new grpc.Metadata(), {}),
    openPlain: plainSession,
    onUnsupported: () => { muxSupported = false; },
  });

  function unary<Req, Res>(method: Unary<Req, Res>, req: Req, o: CallOpts): Promise<Res> {
    return new Promise((resolve, reject) => {
      const call = method.call(raw, req, callMetadata(o), deadlineOptions(o.deadlineMs), (err, res) => {
        detach();
        if (err || !res) reject(fromServiceError(err ?? new Error('empty response'), address));
        else resolve(res);
      });
      const detach = linkAbort(o.signal, call);
    });
  }

  return {
    address,
    async info(o: CallOpts & { nonce?: Uint8Array }): Promise<HostInfo> {
      const r = await unary(raw.Info, { nonce: Buffer.from(o.nonce ?? []) }, o);
      return {
        peerId: r.peerId, version: r.version, model: r.model,
        experts: r.experts.map((e) => ({ expertId: e.expertId, sha256: e.sha256, layers: e.layers, activeSessions: e.activeSessions })),
        queueDepth: r.queueDepth, throughput: r.throughput,
        kvCapacityBytes: r.kvCapacityBytes, kvFreeBytes: r.kvFreeBytes,
        state: r.state as HostState, device: r.device, maxContext: r.maxContext,
        ...(r.identitySignature.length > 0 ? { identitySignature: new Uint8Array(r.identitySignature) } : {}),
      };
    },
    async forward(expertId: string, hidden: F32, o: CallOpts): Promise<F32> {
      const dtype = protoDtype(o.wireDtype);
      const r = await unary(raw.Forward, { expertId, hidden: encodeTensor(hidden, o.wireDtype), replyDtype: dtype }, o);
      try {
        return decodeTensor(r.hidden, hidden.dims, 'forward result');
      } catch (err) {
        throw new InternalError(`host ${address} sent a bad forward result: ${(err as Error).message}`);
      }
    },
    openSession(expertId: string, maxLength: number, o: CallOpts & { acceptPush?: boolean }): Promise<ExpertSession> {
      const stream = muxSupported ? mux.open(o.traceparent ?? '') : plainSession(o.traceparent ?? '');
      return openSessionOnStream(stream, address, { expertId, maxLength, acceptPush: o.acceptPush, opts: o });
    },
    openPushStream(): PushStream {
      const call = raw.Push(new grpc.Metadata(), {});
      /** Pushes written in the last PUSH_WATCH_MS, oldest first: failed if the stream ends. */
      const recent = new Map<number, { at: number; onFail(reason: string): void }>();
      let closed = false;
      const failAll = (reason: string) => {
        closed = true;
        const since = Date.now() - PUSH_WATCH_MS;
        for (const r of recent.values()) if (r.at >= since) r.onFail(reason);
        recent.clear();
      };
      call.on('data', (m: PushResponseMsg) => {
        const r = recent.get(m.pushId);
        recent.delete(m.pushId);
        r?.onFail(`host ${address} refused the push: ${m.error}`);
      });
      call.on('error', (err) => failAll(fromServiceError(err, address).message));
      call.on('status', () => failAll(`push stream to ${address} ended`));
      return {
        get closed() { return closed; },
        push(req, onFail) {
          if (closed) { onFail(`push stream to ${address} ended`); return; }
          const now = Date.now();
          for (const [id, r] of recent) {
            if (now - r.at < PUSH_WATCH_MS && recent.size < PUSH_WATCH_MAX) break;
            recent.delete(id);
          }
          recent.delete(req.pushId);
          recent.set(req.pushId, { at: now, onFail });
          call.write(req);
        },
        close() {
          if (closed) return;
          // Pushes still in flight may not arrive: report them, so that routers send those inputs themselves.
          failAll('push stream closed');
          try { call.end(); } catch { /* already gone */ }
        },
      };
    },
    fetchShardChunks(expertId: string, offset: number, o: CallOpts): AsyncIterable<ShardChunk> {
      const call = raw.FetchShard({ expertId, offset }, callMetadata(o), deadlineOptions(o.deadlineMs));
      const detach = linkAbort(o.signal, call);
      return {
        async *[Symbol.asyncIterator]() {
          try {
            for await (const c of call as AsyncIterable<ShardChunkMsg>) {
              yield { data: c.data, offset: c.offset, totalBytes: c.totalBytes, sha256: c.sha256 };
            }
          } catch (err) {
            throw fromServiceError(err, address);
          } finally {
            detach();
            call.cancel();
          }
        },
      };
    },
    close(): void {
      mux.close();
      raw.close();
    },
  };
}
