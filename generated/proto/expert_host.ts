import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { ExpertHostClient as _swarmpath_v1_ExpertHostClient, ExpertHostDefinition as _swarmpath_v1_ExpertHostDefinition } from './swarmpath/v1/ExpertHost.ts';
import type { ExpertInfo as _swarmpath_v1_ExpertInfo, ExpertInfo__Output as _swarmpath_v1_ExpertInfo__Output } from './swarmpath/v1/ExpertInfo.ts';
import type { FetchShardRequest as _swarmpath_v1_FetchShardRequest, FetchShardRequest__Output as _swarmpath_v1_FetchShardRequest__Output } from './swarmpath/v1/FetchShardRequest.ts';
import type { ForwardRequest as _swarmpath_v1_ForwardRequest, ForwardRequest__Output as _swarmpath_v1_ForwardRequest__Output } from './swarmpath/v1/ForwardRequest.ts';
import type { ForwardResponse as _swarmpath_v1_ForwardResponse, ForwardResponse__Output as _swarmpath_v1_ForwardResponse__Output } from './swarmpath/v1/ForwardResponse.ts';
import type { InfoRequest as _swarmpath_v1_InfoRequest, InfoRequest__Output as _swarmpath_v1_InfoRequest__Output } from './swarmpath/v1/InfoRequest.ts';
import type { InfoResponse as _swarmpath_v1_InfoResponse, InfoResponse__Output as _swarmpath_v1_InfoResponse__Output } from './swarmpath/v1/InfoResponse.ts';
import type { PushRequest as _swarmpath_v1_PushRequest, PushRequest__Output as _swarmpath_v1_PushRequest__Output } from './swarmpath/v1/PushRequest.ts';
import type { PushResponse as _swarmpath_v1_PushResponse, PushResponse__Output as _swarmpath_v1_PushResponse__Output } from './swarmpath/v1/PushResponse.ts';
import type { PushTarget as _swarmpath_v1_PushTarget, PushTarget__Output as _swarmpath_v1_PushTarget__Output } from './swarmpath/v1/PushTarget.ts';
import type { SessionClose as _swarmpath_v1_SessionClose, SessionClose__Output as _swarmpath_v1_SessionClose__Output } from './swarmpath/v1/SessionClose.ts';
import type { SessionOpen as _swarmpath_v1_SessionOpen, SessionOpen__Output as _swarmpath_v1_SessionOpen__Output } from './swarmpath/v1/SessionOpen.ts';
import type { SessionOpened as _swarmpath_v1_SessionOpened, SessionOpened__Output as _swarmpath_v1_SessionOpened__Output } from './swarmpath/v1/SessionOpened.ts';
import type { SessionPushFailed as _swarmpath_v1_SessionPushFailed, SessionPushFailed__Output as _swarmpath_v1_SessionPushFailed__Output } from './swarmpath/v1/SessionPushFailed.ts';
import type { SessionRequest as _swarmpath_v1_SessionRequest, SessionRequest__Output as _swarmpath_v1_SessionRequest__Output } from './swarmpath/v1/SessionRequest.ts';
import type { SessionResponse as _swarmpath_v1_SessionResponse, SessionResponse__Output as _swarmpath_v1_SessionResponse__Output } from './swarmpath/v1/SessionResponse.ts';
import type { SessionStep as _swarmpath_v1_SessionStep, SessionStep__Output as _swarmpath_v1_SessionStep__Output } from './swarmpath/v1/SessionStep.ts';
import type { SessionStepResult as _swarmpath_v1_SessionStepResult, SessionStepResult__Output as _swarmpath_v1_SessionStepResult__Output } from './swarmpath/v1/SessionStepResult.ts';
import type { SessionsRequest as _swarmpath_v1_SessionsRequest, SessionsRequest__Output as _swarmpath_v1_SessionsRequest__Output } from './swarmpath/v1/SessionsRequest.ts';
import type { SessionsRequestItem as _swarmpath_v1_SessionsRequestItem, SessionsRequestItem__Output as _swarmpath_v1_SessionsRequestItem__Output } from './swarmpath/v1/SessionsRequestItem.ts';
import type { SessionsResponse as _swarmpath_v1_SessionsResponse, SessionsResponse__Output as _swarmpath_v1_SessionsResponse__Output } from './swarmpath/v1/SessionsResponse.ts';
import type { SessionsResponseItem as _swarmpath_v1_SessionsResponseItem, SessionsResponseItem__Output as _swarmpath_v1_SessionsResponseItem__Output } from './swarmpath/v1/SessionsResponseItem.ts';
import type { ShardChunk as _swarmpath_v1_ShardChunk, ShardChunk__Output as _swarmpath_v1_ShardChunk__Output } from './swarmpath/v1/ShardChunk.ts';
import type { Tensor as _swarmpath_v1_Tensor, Tensor__Output as _swarmpath_v1_Tensor__Output } from './swarmpath/v1/Tensor.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  swarmpath: {
    v1: {
      DType: EnumTypeDefinition
      ExpertHost: SubtypeConstructor<typeof grpc.Client, _swarmpath_v1_ExpertHostClient> & { service: _swarmpath_v1_ExpertHostDefinition }
      ExpertInfo: MessageTypeDefinition<_swarmpath_v1_ExpertInfo, _swarmpath_v1_ExpertInfo__Output>
      FetchShardRequest: MessageTypeDefinition<_swarmpath_v1_FetchShardRequest, _swarmpath_v1_FetchShardRequest__Output>
      ForwardRequest: MessageTypeDefinition<_swarmpath_v1_ForwardRequest, _swarmpath_v1_ForwardRequest__Output>
      ForwardResponse: MessageTypeDefinition<_swarmpath_v1_ForwardResponse, _swarmpath_v1_ForwardResponse__Output>
      InfoRequest: MessageTypeDefinition<_swarmpath_v1_InfoRequest, _swarmpath_v1_InfoRequest__Output>
      InfoResponse: MessageTypeDefinition<_swarmpath_v1_InfoResponse, _swarmpath_v1_InfoResponse__Output>
      PushRequest: MessageTypeDefinition<_swarmpath_v1_PushRequest, _swarmpath_v1_PushRequest__Output>
      PushResponse: MessageTypeDefinition<_swarmpath_v1_PushResponse, _swarmpath_v1_PushResponse__Output>
      PushTarget: MessageTypeDefinition<_swarmpath_v1_PushTarget, _swarmpath_v1_PushTarget__Output>
      SessionClose: MessageTypeDefinition<_swarmpath_v1_SessionClose, _swarmpath_v1_SessionClose__Output>
      SessionOpen: MessageTypeDefinition<_swarmpath_v1_SessionOpen, _swarmpath_v1_SessionOpen__Output>
      SessionOpened: MessageTypeDefinition<_swarmpath_v1_SessionOpened, _swarmpath_v1_SessionOpened__Output>
      SessionPushFailed: MessageTypeDefinition<_swarmpath_v1_SessionPushFailed, _swarmpath_v1_SessionPushFailed__Output>
      SessionRequest: MessageTypeDefinition<_swarmpath_v1_SessionRequest, _swarmpath_v1_SessionRequest__Output>
      SessionResponse: MessageTypeDefinition<_swarmpath_v1_SessionResponse, _swarmpath_v1_SessionResponse__Output>
      SessionStep: MessageTypeDefinition<_swarmpath_v1_SessionStep, _swarmpath_v1_SessionStep__Output>
      SessionStepResult: MessageTypeDefinition<_swarmpath_v1_SessionStepResult, _swarmpath_v1_SessionStepResult__Output>
      SessionsRequest: MessageTypeDefinition<_swarmpath_v1_SessionsRequest, _swarmpath_v1_SessionsRequest__Output>
      SessionsRequestItem: MessageTypeDefinition<_swarmpath_v1_SessionsRequestItem, _swarmpath_v1_SessionsRequestItem__Output>
      SessionsResponse: MessageTypeDefinition<_swarmpath_v1_SessionsResponse, _swarmpath_v1_SessionsResponse__Output>
      SessionsResponseItem: MessageTypeDefinition<_swarmpath_v1_SessionsResponseItem, _swarmpath_v1_SessionsResponseItem__Output>
      ShardChunk: MessageTypeDefinition<_swarmpath_v1_ShardChunk, _swarmpath_v1_ShardChunk__Output>
      Tensor: MessageTypeDefinition<_swarmpath_v1_Tensor, _swarmpath_v1_Tensor__Output>
    }
  }
}

