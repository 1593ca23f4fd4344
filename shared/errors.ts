/**
 * The error catalogue. Every failure that crosses a process boundary is one of these classes, each
 * with a stable `code`, its gRPC status, its HTTP status and its OpenAI error `type`. Remote errors
 * are decoded back into these classes in one place (shared/grpc/errors.ts), so raw transport errors
 * never leak into router or host logic. Dependency-free: gRPC status numbers are written out.
 */

/** gRPC status codes (numbers as in grpc's status.h), so that this file imports no runtime. */
export const GrpcStatus = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9,
  ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type ErrorCode =
  | 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'UNKNOWN_MODEL' | 'UNKNOWN_EXPERT' | 'UNKNOWN_SESSION'
  | 'TOO_LARGE' | 'UNAUTHORIZED' | 'RATE_LIMITED' | 'RESOURCE_EXHAUSTED' | 'NO_LIVE_REPLICA'
  | 'DEADLINE_EXCEEDED' | 'UNAVAILABLE' | 'CANCELLED' | 'INTEGRITY' | 'BAD_PACKAGE' | 'BAD_CONFIG'
  | 'FAILED_PRECONDITION' | 'INTERNAL';

export interface ErrorShape {
  readonly code: ErrorCode;
  /** HTTP status the router answers with. */
  readonly http: number;
  /** gRPC status a host answers with. */
  readonly grpc: number;
  /** OpenAI error `type`. */
  readonly type: string;
}

export const ERRORS: Readonly<Record<ErrorCode, Omit<ErrorShape, 'code'>>> = Object.freeze({
  INVALID_ARGUMENT: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, type: 'invalid_request_error' },
  NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND, type: 'invalid_request_error' },
  UNKNOWN_MODEL: { http: 404, grpc: GrpcStatus.NOT_FOUND, type: 'invalid_request_error' },
  UNKNOWN_EXPERT: { http: 404, grpc: GrpcStatus.NOT_FOUND, type: 'invalid_request_error' },
  UNKNOWN_SESSION: { http: 404, grpc: GrpcStatus.NOT_FOUND, type: 'invalid_request_error' },
  TOO_LARGE: { http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED, type: 'invalid_request_error' },
  UNAUTHORIZED: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED, type: 'authentication_error' },
  RATE_LIMITED: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED, type: 'rate_limit_error' },
  RESOURCE_EXHAUSTED: { http: 503, grpc: GrpcStatus.RESOURCE_EXHAUSTED, type: 'server_error' },
  NO_LIVE_REPLICA: { http: 503, grpc: GrpcStatus.UNAVAILABLE, type: 'server_error' },
  DEADLINE_EXCEEDED: { http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED, type: 'server_error' },
  UNAVAILABLE: { http: 503, grpc: GrpcStatus.UNAVAILABLE, type: 'server_error' },
  CANCELLED: { http: 499, grpc: GrpcStatus.CANCELLED, type: 'server_error' },
  INTEGRITY: { http: 502, grpc: GrpcStatus.DATA_LOSS, type: 'server_error' },
  BAD_PACKAGE: { http: 500, grpc: GrpcStatus.FAILED_PRECONDITION, type: 'server_error' },
  BAD_CONFIG: { http: 500, grpc: GrpcStatus.FAILED_PRECONDITION, type: 'server_error' },
  FAILED_PRECONDITION: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, type: 'invalid_request_error' },
  INTERNAL: { http: 500, grpc: GrpcStatus.INTERNAL, type: 'server_error' },
});

/** Base class: a message for people, a stable code for programs. */
export class SwarmpathError extends Error implements ErrorShape {
  readonly code: ErrorCode;
  readonly http: number;
  readonly grpc: number;
  readonly type: string;
  /** Seconds a client should wait before retrying (503/429), when known. */
  retryAfterS?: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterS?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwarmpathError';
    this.code = code;
    const shape = ERRORS[code];
    this.http = shape.http;
    this.grpc = shape.grpc;
    this.type = shape.type;
    if (options?.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
  }
}

/** The caller gave up (client disconnect, AbortSignal): nothing failed. */
export class CancelledError extends SwarmpathError {
  constructor(message = 'request cancelled', cause?: unknown) { super('CANCELLED', message, { cause }); this.name = 'CancelledError'; }
}
/** A peer or stream went away, or cannot be reached: another replica may serve. */
export class UnavailableError extends SwarmpathError {
  constructor(message: string, cause?: unknown) { super('UNAVAILABLE', message, { cause }); this.name = 'UnavailableError'; }
}
export class DeadlineExceededError extends SwarmpathError {
  constructor(message: string) { super('DEADLINE_EXCEEDED', message); this.name = 'DeadlineExceededError'; }
}
/** A bug or a broken invariant; or a peer sent something this process cannot use. */
export class InternalError extends SwarmpathError {
  constructor(message: string, cause?: unknown) { super('INTERNAL', message, { cause }); this.name = 'InternalError'; }
}
export class UnknownSessionError extends SwarmpathError {
  constructor(message: string) { super('UNKNOWN_SESSION', message); this.name = 'UnknownSessionError'; }
}
/** The request is valid but the host's state refuses it now (draining, a session already open, …). */
export class FailedPreconditionError extends SwarmpathError {
  constructor(message: string) { super('FAILED_PRECONDITION', message); this.name = 'FailedPreconditionError'; }
}
export class InvalidArgumentError extends SwarmpathError {
  constructor(message: string) { super('INVALID_ARGUMENT', message); this.name = 'InvalidArgumentError'; }
}
export class BadPackageError extends SwarmpathError {
  constructor(message: string, cause?: unknown) { super('BAD_PACKAGE', message, { cause }); this.name = 'BadPackageError'; }
}
export class IntegrityError extends SwarmpathError {
  constructor(message: string) { super('INTEGRITY', message); this.name = 'IntegrityError'; }
}
export class BadConfigError extends SwarmpathError {
  constructor(message: string) { super('BAD_CONFIG', message); this.name = 'BadConfigError'; }
}
export class UnknownExpertError extends SwarmpathError {
  constructor(expertId: string) { super('UNKNOWN_EXPERT', `unknown expert ${JSON.stringify(expertId)}`); this.name = 'UnknownExpertError'; }
}
export class NoLiveReplicaError extends SwarmpathError {
  constructor(expertId: string, retryAfterS = 5) {
    super('NO_LIVE_REPLICA', `no live replica of expert ${expertId}`, { retryAfterS });
    this.name = 'NoLiveReplicaError';
  }
}
export class ResourceExhaustedError extends SwarmpathError {
  constructor(message: string) { super('RESOURCE_EXHAUSTED', message); this.name = 'ResourceExhaustedError'; }
}

/**
 * The error of `code` as its class where there is one (decoding a remote error: shared/grpc/errors.ts),
 * else a plain SwarmpathError carrying the code.
 */
export function errorOf(code: ErrorCode, message: string, cause?: unknown): SwarmpathError {
  switch (code) {
    case 'CANCELLED': return new CancelledError(message, cause);
    case 'UNAVAILABLE': return new UnavailableError(message, cause);
    case 'INTERNAL': return new InternalError(message, cause);
    default: return new SwarmpathError(code, message, { cause });
  }
}

/** Wraps anything thrown into a SwarmpathError (INTERNAL unless it already is one). */
export function asSwarmpathError(err: unknown): SwarmpathError {
  if (err instanceof SwarmpathError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(message, err);
}
