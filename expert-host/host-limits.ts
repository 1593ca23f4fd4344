/**
 * The host's defences against hostile callers, as one value built from the flags (config.ts): the
 * per-peer and host-wide limits of the peer ledger (peer-ledger.ts: connections, streams, calls,
 * bytes), the per-stream bounds of Session streams, the rate of Info calls per peer, and the grpc-js
 * server options that bound connections. Every limit of a call answers RESOURCE_EXHAUSTED naming
 * its flag; a connection past its limit is closed at once.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import type { LedgerLimits } from './peer-ledger.ts';

export interface SessionStreamLimits {
  /** Steps received on one stream and not yet answered; one more is RESOURCE_EXHAUSTED. */
  maxStepsInFlight: number;
  /** A stream that sends no `open` within this long is ended, ms. */
  openTimeoutMs: number;
}

export interface HostLimits {
  ledger: LedgerLimits;
  session: SessionStreamLimits;
  /** Info calls one peer may make a second (rate-limit.ts; a burst of two seconds' worth); Infinity: unlimited. */
  infoPerS: number;
}

/** Limits that bind nothing (in-process hosts of tests and benchmarks that build no flags). */
export const UNLIMITED: HostLimits = Object.freeze({
  ledger: Object.freeze({
    connections: { perPeer: Infinity, total: Infinity },
    streams: { perPeer: Infinity, total: Infinity }, forwards: { perPeer: Infinity, total: Infinity },
    fetches: { perPeer: Infinity, total: Infinity }, inflightBytes: { perPeer: Infinity, total: Infinity },
  }),
  session: Object.freeze({ maxStepsInFlight: Infinity, openTimeoutMs: 2 ** 31 - 1 }),
  infoPerS: Infinity,
});

/**
 * Connection-level bounds of the host's gRPC server (grpc-js 1.14 honours each of these on a server;
 * it does not enforce client ping policies — `grpc.http2.min_ping_interval_without_data_ms`,
 * `grpc.http2.max_ping_strikes` are client-side only there — so ping floods are left to Node's
 * nghttp2 flood protection):
 * - at most as many concurrent streams per connection as one peer may hold, plus a few for Info;
 * - a keepalive ping every 2 min, the connection dropped when unanswered for 20 s (a vanished
 *   router's sessions end and free their KV memory without waiting for the idle timeout);
 * - connections without calls closed after 5 min;
 * - connections recycled after 1 h, with 10 min of grace for streams in progress, so that no
 *   connection (and no stream stuck behind a client that stopped reading) lives for ever.
 */
export function hostServerOptions(l: LedgerLimits): ChannelOptions {
  const perConnection = l.streams.perPeer + l.forwards.perPeer + l.fetches.perPeer + 16;
  return {
    ...(Number.isFinite(perConnection) ? { 'grpc.max_concurrent_streams': perConnection } : {}),
    'grpc.keepalive_time_ms': 120_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.max_connection_idle_ms': 300_000,
    'grpc.max_connection_age_ms': 3_600_000,
    'grpc.max_connection_age_grace_ms': 600_000,
  };
}
