import assert from 'node:assert/strict';
import { test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ResourceExhaustedError, SwarmpathError, UnknownExpertError } from '../../../shared/errors.ts';
import { CODE_TRAILER, fromServiceError, toGrpcError } from '../../../shared/grpc/errors.ts';

function serviceError(code: number, details: string, trailer?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (trailer) metadata.set(CODE_TRAILER, trailer);
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

test('server side: a SwarmpathError becomes its status, message and code trailer', () => {
  const e = toGrpcError(new ResourceExhaustedError('KV cache full'));
  assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(e.details, 'KV cache full');
  assert.deepEqual(e.metadata.get(CODE_TRAILER), ['RESOURCE_EXHAUSTED']);
  const u = toGrpcError(new UnknownExpertError('L9.9'));
  assert.equal(u.code, grpc.status.NOT_FOUND);
  assert.deepEqual(u.metadata.get(CODE_TRAILER), ['UNKNOWN_EXPERT']);
});

test('server side: anything else is INTERNAL with its message', () => {
  const e = toGrpcError(new TypeError('boom'));
  assert.equal(e.code, grpc.status.INTERNAL);
  assert.equal(e.details, 'boom');
});

test('client side: the trailer code wins and the message is kept', () => {
  const e = fromServiceError(serviceError(grpc.status.NOT_FOUND, 'unknown session "x"', 'UNKNOWN_SESSION'), '127.0.0.1:1');
  assert.ok(e instanceof SwarmpathError);
  assert.equal(e.code, 'UNKNOWN_SESSION');
  assert.match(e.message, /unknown session "x" \(host 127\.0\.0\.1:1\)/);
  const bogus = fromServiceError(serviceError(grpc.status.NOT_FOUND, 'x', 'NOT_A_CODE'));
  assert.equal(bogus.code, 'NOT_FOUND');
});

test('client side: bare statuses map to codes', () => {
  const S = grpc.status;
  const cases: [number, string, string][] = [
    [S.RESOURCE_EXHAUSTED, 'full', 'RESOURCE_EXHAUSTED'],
    [S.RESOURCE_EXHAUSTED, 'Received message larger than max (5 vs 4)', 'TOO_LARGE'],
    [S.NOT_FOUND, 'x', 'NOT_FOUND'],
    [S.DEADLINE_EXCEEDED, 'x', 'DEADLINE_EXCEEDED'],
    [S.UNAVAILABLE, 'No connection established', 'UNAVAILABLE'],
    [S.CANCELLED, 'x', 'CANCELLED'],
    [S.INVALID_ARGUMENT, 'x', 'INVALID_ARGUMENT'],
    [S.OUT_OF_RANGE, 'x', 'INVALID_ARGUMENT'],
    [S.FAILED_PRECONDITION, 'x', 'FAILED_PRECONDITION'],
    [S.DATA_LOSS, 'x', 'INTEGRITY'],
    [S.UNAUTHENTICATED, 'x', 'UNAUTHORIZED'],
    [S.INTERNAL, 'x', 'INTERNAL'],
    [S.UNIMPLEMENTED, 'x', 'INTERNAL'],
  ];
  for (const [code, details, want] of cases) assert.equal(fromServiceError(serviceError(code, details)).code, want, `status ${code}`);
});

test('client side: non-gRPC values and SwarmpathErrors pass through', () => {
  const s = new ResourceExhaustedError('x');
  assert.equal(fromServiceError(s), s);
  assert.equal(fromServiceError(new Error('plain')).code, 'INTERNAL');
});
