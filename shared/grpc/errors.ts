/**
 * The one adapter between SwarmpathErrors and gRPC statuses. A host answers every failure with the
 * error's gRPC status, its message as `details` and its stable code in the trailer
 * `swarmpath-code`; a client turns any ServiceError back into a SwarmpathError (the trailer's code
 * when present, else a mapping of the status), so raw transport errors never leak past shared/grpc.
 */
import * as grpc from '@grpc/grpc-js';
import { ERRORS, SwarmpathError, asSwarmpathError, type ErrorCode, errorOf } from '../errors.ts';

/** Trailer carrying the SwarmpathError code. */
export const CODE_TRAILER = 'swarmpath-code';

/** What grpc-js accepts to end a call with a status (`callback(err)` or `call.emit('error', err)`). */
export interface GrpcStatusError {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

/** Server side: any thrown value → the status a host answers with. */
export function toGrpcError(err: unknown): GrpcStatusError {
  const e = asSwarmpathError(err);
  const metadata = new grpc.Metadata();
  metadata.set(CODE_TRAILER, e.code);
  return { code: e.grpc as grpc.status, details: e.message, metadata };
}

/** The SwarmpathError code for a bare gRPC status (no trailer: a proxy, grpc-js itself, a peer). */
export function codeForStatus(code: number, details: string): ErrorCode {
  const S = grpc.status;
  switch (code) {
    case S.INVALID_ARGUMENT: case S.OUT_OF_RANGE: return 'INVALID_ARGUMENT';
    case S.NOT_FOUND: return 'NOT_FOUND';
    case S.RESOURCE_EXHAUSTED: return /larger than max/i.test(details) ? 'TOO_LARGE' : 'RESOURCE_EXHAUSTED';
    case S.DEADLINE_EXCEEDED: return 'DEADLINE_EXCEEDED';
    case S.UNAVAILABLE: return 'UNAVAILABLE';
    case S.CANCELLED: return 'CANCELLED';
    case S.FAILED_PRECONDITION: return 'FAILED_PRECONDITION';
    case S.UNAUTHENTICATED: case S.PERMISSION_DENIED: return 'UNAUTHORIZED';
    case S.DATA_LOSS: return 'INTEGRITY';
    default: return 'INTERNAL';
  }
}

/** Client side: a grpc-js error (or anything) → SwarmpathError, keeping the remote message. */
export function fromServiceError(err: unknown, address?: string): SwarmpathError {
  if (err instanceof SwarmpathError) return err;
  const se = err as Partial<grpc.ServiceError> | undefined;
  if (!se || typeof se.code !== 'number') return asSwarmpathError(err);
  const details = se.details || se.message || 'gRPC error';
  const trailer = se.metadata?.get(CODE_TRAILER)[0];
  const code = typeof trailer === 'string' && trailer in ERRORS ? trailer as ErrorCode : codeForStatus(se.code, details);
  const where = address ? ` (host ${address})` : '';
  return errorOf(code, `${details}${where}`, err);
}
