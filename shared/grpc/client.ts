/**
 * The gRPC client of one expert host: `createExpertClient(address)` implements ExpertClient
 * (shared/transport-types.ts) over one channel. Every call has a deadline and carries the caller's
 * `traceparent` in metadata; tensors travel as raw typed bytes (float32, or float16 when asked);
 * every failure is a SwarmpathError (shared/grpc/errors.ts).
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
import { decodeTensor, encodeTensor, protoDtype } from './tensor-codec.ts';
import type { FetchShardRequestMsg, ForwardRequestMsg, ForwardResponseMsg, InfoRequestMsg, InfoResponseMsg, ShardChunkMsg } from './wire-types.ts';

export interface ExpertClientOptions {
  /** Largest message sent or received (default 64 MiB). */
  maxMessageBytes?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
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
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Res) => void) => grpc.ClientUnaryCall;
interface RawClient extends grpc.Client {
  Info: Unary<InfoRequestMsg, InfoResponseMsg>;
  Forward: Unary<ForwardRequestMsg, ForwardResponseMsg>;
  Session(md: grpc.Metadata, o: grpc.CallOptions): SessionStream;
  FetchShard(req: FetchShardRequestMsg, md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientReadableStream<ShardChunkMsg>;
}

/** A client of the expert host at `address` (`host:port`). */
export function createExpertClient(address: string, opts: ExpertClientOptions = {}): GrpcExpertClient {
  const Ctor = expertHostClientConstructor();
  const raw = new Ctor(address, grpc.credentials.createInsecure(), {
    ...clientChannelOptions(opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
    ...opts.channelOptions,
  }) as unknown as RawClient;

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
    openSession(expertId: string, maxLength: number, o: CallOpts): Promise<ExpertSession> {
      const stream = raw.Session(callMetadata(o), {});
      return openSessionOnStream(stream, address, { expertId, maxLength, opts: o });
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
      raw.close();
    },
  };
}
