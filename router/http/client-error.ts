/**
 * Requests that never reach a handler, answered on the socket by hand (an OpenAI error body and
 * `Connection: close`, then the socket ends), so that no connection is dropped without an answer:
 * - node:http's 'clientError': its parser refused the request (malformed; headers too large; not
 *   received within headersTimeout/requestTimeout): 400, 408, 413 or 431. A socket whose client is
 *   gone, or on which a response has already begun (a pipelined request behind it failed), is
 *   destroyed instead: bytes written there would corrupt that response;
 * - 'connect' (a CONNECT request, which node hands over as a raw socket): 404 like any unknown route.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { RouteNotFoundError, errorResponse, type OpenAiErrorBody } from './errors.ts';

/** The answer to a parser error, by node's error code; anything else is a 400. */
export function clientErrorAnswer(code: string | undefined): { status: number; reason: string; body: OpenAiErrorBody } {
  const answer = (status: number, reason: string, errorCode: string, message: string) => ({
    status, reason, body: { error: { message, type: 'invalid_request_error', code: errorCode, param: null } },
  });
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return answer(408, 'Request Timeout', 'INVALID_ARGUMENT', 'the request did not arrive in time');
    case 'HPE_HEADER_OVERFLOW':
      return answer(431, 'Request Header Fields Too Large', 'TOO_LARGE', 'the request headers are too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return answer(413, 'Payload Too Large', 'TOO_LARGE', 'the chunk extensions are too large');
    default:
      return answer(400, 'Bad Request', 'INVALID_ARGUMENT', 'malformed HTTP request');
  }
}

/**
 * Answers a parser error on `socket`; `responseStarted` tells whether a response has begun on it.
 * Never throws.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, responseStarted: boolean): void {
  if (err.code === 'ECONNRESET' || !socket.writable || responseStarted) {
    socket.destroy();
    return;
  }
  const a = clientErrorAnswer(err.code);
  endWith(socket, a.status, a.reason, a.body);
}

/** Answers a CONNECT request (this server proxies nothing): 404, as for any unknown route. */
export function answerConnect(target: string | undefined, socket: Duplex): void {
  const r = errorResponse(new RouteNotFoundError('CONNECT', target ?? ''));
  if (socket.writable) endWith(socket, r.status, STATUS_CODES[r.status] ?? 'Not Found', r.body);
  else socket.destroy();
}

function endWith(socket: Duplex, status: number, reason: string, errorBody: OpenAiErrorBody): void {
  const body = JSON.stringify(errorBody);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    `connection: close\r\n\r\n${body}`);
}
