/**
 * TypeScript shapes of the proto messages as proto-loader decodes them (see proto.ts: camelCase,
 * numbers for 64-bit integers, enum names as strings, Buffers for bytes). Types only.
 */

import type { HostInfo } from '../transport-types.ts';

export type WireDType = 'DTYPE_UNSPECIFIED' | 'FLOAT32' | 'FLOAT16' | 'INT64';

export interface TensorMsg {
  dtype: WireDType | number;
  shape: number[];
  data: Buffer | Uint8Array;
}

/** InfoResponse as proto-loader decodes it: HostInfo's fields, with `state` not yet validated. */
export type InfoResponseMsg = Omit<HostInfo, 'state'> & { state: string };

export interface ForwardRequestMsg {
  expertId: string;
  hidden: TensorMsg | null;
  replyDtype: WireDType | number;
}

export interface ForwardResponseMsg {
  hidden: TensorMsg | null;
}

export interface SessionOpenMsg {
  expertId: string;
  maxLength: number;
  replyDtype: WireDType | number;
  clientSessionId: string;
}

export interface SessionStepMsg {
  stepId: number;
  position: number;
  hidden: TensorMsg | null;
}

export interface SessionRequestMsg {
  kind?: 'open' | 'step' | 'close';
  open?: SessionOpenMsg | null;
  step?: SessionStepMsg | null;
  close?: Record<string, never> | null;
}

export interface SessionResponseMsg {
  kind?: 'opened' | 'step';
  opened?: { sessionId: string; kvReservedBytes: number } | null;
  step?: { stepId: number; hidden: TensorMsg | null; length: number } | null;
}

export interface FetchShardRequestMsg {
  expertId: string;
  offset: number;
}

export interface ShardChunkMsg {
  data: Buffer;
  offset: number;
  totalBytes: number;
  sha256: string;
}
