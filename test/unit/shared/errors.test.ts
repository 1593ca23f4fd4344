import { describe, expect, it } from 'vitest';
import {
  CancelledError, DeadlineExceededError, ERRORS, FailedPreconditionError, InternalError, SwarmpathError, UnavailableError,
  UnknownSessionError, asSwarmpathError, errorOf, type ErrorCode,
} from '../../../shared/errors.ts';

describe('error classes', () => {
  it('each class carries its code and the code\'s HTTP and gRPC statuses', () => {
    const cases: [SwarmpathError, ErrorCode, string][] = [
      [new CancelledError(), 'CANCELLED', 'CancelledError'],
      [new UnavailableError('gone'), 'UNAVAILABLE', 'UnavailableError'],
      [new DeadlineExceededError('late'), 'DEADLINE_EXCEEDED', 'DeadlineExceededError'],
      [new InternalError('bug'), 'INTERNAL', 'InternalError'],
      [new UnknownSessionError('s'), 'UNKNOWN_SESSION', 'UnknownSessionError'],
      [new FailedPreconditionError('draining'), 'FAILED_PRECONDITION', 'FailedPreconditionError'],
    ];
    for (const [err, code, name] of cases) {
      expect(err).toBeInstanceOf(SwarmpathError);
      expect([err.code, err.name, err.http, err.grpc]).toEqual([code, name, ERRORS[code].http, ERRORS[code].grpc]);
    }
  });

  it('errorOf builds the class of a decoded code and keeps the cause', () => {
    const cause = new Error('transport');
    const e = errorOf('UNAVAILABLE', 'stream ended', cause);
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.cause).toBe(cause);
    expect(errorOf('CANCELLED', 'x')).toBeInstanceOf(CancelledError);
    expect(errorOf('NO_LIVE_REPLICA', 'none').code).toBe('NO_LIVE_REPLICA');
  });

  it('asSwarmpathError wraps a foreign error as INTERNAL with its cause, and passes ours through', () => {
    const foreign = new TypeError('oops');
    const e = asSwarmpathError(foreign);
    expect(e).toBeInstanceOf(InternalError);
    expect(e.cause).toBe(foreign);
    const ours = new CancelledError();
    expect(asSwarmpathError(ours)).toBe(ours);
  });
});
