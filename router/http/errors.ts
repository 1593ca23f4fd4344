/**
 * HTTP-layer errors of the router, each a SwarmpathError with its code (and so its HTTP status and
 * OpenAI error type, shared/errors.ts), plus the OpenAI error body they are answered with.
 *
 * A 5xx body (and a 499's) never carries the error's own message, which may hold a host's text or
 * the router's internals: it gets a fixed message per code and the request id, and the detail goes
 * to the log under that id (server.ts). 4xx bodies made by the router's own validation keep their
 * precise message (hosts never cause a 4xx: router/stage-session.ts).
 */
import type { ErrorCode } from '../../shared/errors.ts';
import { SwarmpathError, asSwarmpathError } from '../../shared/errors.ts';

export class TooLargeError extends SwarmpathError {
  constructor(limitBytes: number) {
    super('TOO_LARGE', `request body is larger than ${limitBytes} bytes`);
    this.name = 'TooLargeError';
  }
}
export class UnauthorizedError extends SwarmpathError {
  constructor() {
    super('UNAUTHORIZED', 'missing or invalid API key: send "Authorization: Bearer <key>"');
    this.name = 'UnauthorizedError';
  }
}
export class RateLimitedError extends SwarmpathError {
  constructor(message: string, retryAfterS = 1) {
    super('RATE_LIMITED', message, { retryAfterS });
    this.name = 'RateLimitedError';
  }
}
export class UnknownModelError extends SwarmpathError {
  constructor(model: string, served: string) {
    super('UNKNOWN_MODEL', `the model ${JSON.stringify(model)} does not exist; this router serves ${JSON.stringify(served)}`);
    this.name = 'UnknownModelError';
  }
}
export class RouteNotFoundError extends SwarmpathError {
  constructor(method: string, path: string) {
    super('NOT_FOUND', `no route ${method} ${path}`);
    this.name = 'RouteNotFoundError';
  }
}

/**
 * The body did not arrive in time (a slow or stalled client). Code INVALID_ARGUMENT (the client's
 * fault), status 408 as node:http answers a request whose headers did not arrive in time; the
 * catalogue (shared/errors.ts) has no REQUEST_TIMEOUT code of its own yet.
 */
export class BodyTimeoutError extends SwarmpathError {
  override readonly http = 408;
  constructor(timeoutMs: number) {
    super('INVALID_ARGUMENT', `the request body did not arrive within ${timeoutMs / 1000} s`);
    this.name = 'BodyTimeoutError';
  }
}

/** What a client sees of a 5xx (and of a 499): fixed text per code, never the error's own message. */
const GENERIC_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INTERNAL: 'internal error',
  BAD_CONFIG: 'internal error',
  BAD_PACKAGE: 'internal error',
  INTEGRITY: 'a host returned a result that failed its integrity check',
  NO_LIVE_REPLICA: 'no live replica of an expert this request needs; retry later',
  UNAVAILABLE: 'the swarm could not serve this request now; retry later',
  RESOURCE_EXHAUSTED: 'the swarm is out of capacity; retry later',
  DEADLINE_EXCEEDED: 'the request took too long',
  CANCELLED: 'the request was cancelled',
};

/** Whether a client may see this error's own message: the router's 4xx (a 499 is a cancellation, whatever its cause). */
export function showsOwnMessage(e: SwarmpathError): boolean {
  return e.http < 499;
}

/** OpenAI's error body. `param` names the offending field where known. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/**
 * The body and status for any thrown value (INTERNAL for anything not a SwarmpathError). A 5xx
 * message is fixed per code and names `requestId` when given.
 */
export function errorResponse(err: unknown, requestId?: string): { status: number; body: OpenAiErrorBody; retryAfterS?: number } {
  const e = asSwarmpathError(err);
  const param = (e as { param?: unknown }).param;
  const message = showsOwnMessage(e) ? e.message
    : `${GENERIC_MESSAGES[e.code] ?? 'internal error'}${requestId ? ` (request ${requestId})` : ''}`;
  return {
    status: e.http,
    body: { error: { message, type: e.type, code: e.code, param: showsOwnMessage(e) && typeof param === 'string' ? param : null } },
    ...(e.retryAfterS !== undefined ? { retryAfterS: e.retryAfterS } : {}),
  };
}

/** A 400 naming the offending field. */
export class BadFieldError extends SwarmpathError {
  readonly param: string;
  constructor(param: string, message: string) {
    super('INVALID_ARGUMENT', `${param}: ${message}`);
    this.name = 'BadFieldError';
    this.param = param;
  }
}
