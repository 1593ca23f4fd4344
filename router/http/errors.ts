/**
 * HTTP-layer errors of the router, each a SwarmpathError with its code (and so its HTTP status and
 * OpenAI error type, shared/errors.ts), plus the OpenAI error body they are answered with.
 */
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

/** OpenAI's error body. `param` names the offending field where known. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/** The body and status for any thrown value (INTERNAL for anything not a SwarmpathError). */
export function errorResponse(err: unknown): { status: number; body: OpenAiErrorBody; retryAfterS?: number } {
  const e = asSwarmpathError(err);
  const param = (e as { param?: unknown }).param;
  return {
    status: e.http,
    body: { error: { message: e.message, type: e.type, code: e.code, param: typeof param === 'string' ? param : null } },
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
