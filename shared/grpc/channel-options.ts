/**
 * Channel and server options shared by every swarmpath gRPC endpoint. Message size limits are set
 * explicitly (never grpc-js's defaults), on both sides.
 */
import type { ChannelOptions } from '@grpc/grpc-js';

/** Default largest message either side sends or accepts: 64 MiB (a [16,512,4096] float32 tensor is 128 MiB; use float16 or smaller batches beyond). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Options of a client channel to an expert host. */
export function clientChannelOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    // One HTTP/2 connection per host address, reused by every call and session.
    'grpc.use_local_subchannel_pool': 0,
    // Callers retry on other replicas themselves; grpc-js's transparent retries would only buffer
    // every message of a session stream (measured: a few % of a decode step's round trip).
    'grpc.enable_retries': 0,
  };
}

/** Options of an expert host's server. */
export function serverChannelOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  };
}
