/**
 * The proto messages the code handles, named once: each is the type proto-loader-gen-types generated
 * from proto/swarmpath/v1/expert_host.proto into generated/proto/ (`npm run gen:proto`), in the shape
 * proto-loader decodes with shared/grpc/proto.ts's options (camelCase, numbers for 64-bit integers,
 * enum names as strings, Buffers for bytes, defaults filled in). Messages a process receives are the
 * generated `__Output` types, which are also what it builds to send (the input types accept them).
 */
import type { DType__Output } from '../../generated/proto/swarmpath/v1/DType.ts';
import type { Tensor__Output } from '../../generated/proto/swarmpath/v1/Tensor.ts';
import type { InfoRequest__Output } from '../../generated/proto/swarmpath/v1/InfoRequest.ts';
import type { InfoResponse__Output } from '../../generated/proto/swarmpath/v1/InfoResponse.ts';
import type { ForwardRequest__Output } from '../../generated/proto/swarmpath/v1/ForwardRequest.ts';
import type { ForwardResponse__Output } from '../../generated/proto/swarmpath/v1/ForwardResponse.ts';
import type { SessionRequest__Output } from '../../generated/proto/swarmpath/v1/SessionRequest.ts';
import type { SessionResponse__Output } from '../../generated/proto/swarmpath/v1/SessionResponse.ts';
import type { FetchShardRequest__Output } from '../../generated/proto/swarmpath/v1/FetchShardRequest.ts';
import type { ShardChunk__Output } from '../../generated/proto/swarmpath/v1/ShardChunk.ts';
import type { PushRequest__Output } from '../../generated/proto/swarmpath/v1/PushRequest.ts';
import type { PushResponse__Output } from '../../generated/proto/swarmpath/v1/PushResponse.ts';
import type { PushTarget__Output } from '../../generated/proto/swarmpath/v1/PushTarget.ts';
import type { SessionsRequest__Output } from '../../generated/proto/swarmpath/v1/SessionsRequest.ts';
import type { SessionsRequestItem__Output } from '../../generated/proto/swarmpath/v1/SessionsRequestItem.ts';
import type { SessionsResponse__Output } from '../../generated/proto/swarmpath/v1/SessionsResponse.ts';
import type { SessionsResponseItem__Output } from '../../generated/proto/swarmpath/v1/SessionsResponseItem.ts';

/** The proto's DType enum by name (`FLOAT32`); not the router's `WireDtype` ('float32' | 'float16'). */
export type ProtoDType = DType__Output;

/**
 * A tensor as received (decoded): proto-loader decodes an enum value the .proto does not name as its
 * number, which a hostile peer can send, so `dtype` may be a number.
 */
export type TensorMsg = Omit<Tensor__Output, 'dtype'> & { dtype: ProtoDType | number };
/** A tensor this process encoded: a named dtype, its shape and a Buffer. */
export type EncodedTensor = Tensor__Output;

export type InfoRequestMsg = InfoRequest__Output;
export type InfoResponseMsg = InfoResponse__Output;
export type ForwardRequestMsg = ForwardRequest__Output;
export type ForwardResponseMsg = ForwardResponse__Output;
export type SessionRequestMsg = SessionRequest__Output;
export type SessionResponseMsg = SessionResponse__Output;
export type FetchShardRequestMsg = FetchShardRequest__Output;
export type ShardChunkMsg = ShardChunk__Output;
export type PushRequestMsg = PushRequest__Output;
export type PushResponseMsg = PushResponse__Output;
export type PushTargetMsg = PushTarget__Output;
export type SessionsRequestMsg = SessionsRequest__Output;
export type SessionsRequestItemMsg = SessionsRequestItem__Output;
export type SessionsResponseMsg = SessionsResponse__Output;
export type SessionsResponseItemMsg = SessionsResponseItem__Output;
