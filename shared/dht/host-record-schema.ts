/**
 * The host record's fields (HostRecord of shared/transport-types.ts) as one zod schema: the type is
 * inferred from it, and the DHT validator, the announcer and discovery all check records with it.
 */
import { z } from 'zod';
import { parseAnnouncedAddress } from '../net-address.ts';

/** The longest record lifetime a host may announce, s (`--record-ttl` is bounded by it). */
export const MAX_RECORD_TTL_S = 3600;
/** Clock skew tolerated between a host and its readers, ms. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

const text = (max: number) => z.string().max(max);
const count = z.number().finite().nonnegative();

export const HOST_STATES = ['ONLINE', 'DRAINING', 'OFFLINE'] as const;

export const hostRecordSchema = z.object({
  peerId: text(128).min(1),
  model: text(128).min(1),
  experts: z.array(text(64).min(1)).max(256),
  /** host:port of its gRPC server (no scheme, no path). */
  grpc: text(261).refine((a) => parseAnnouncedAddress(a) !== undefined, { message: 'must be host:port (an IP literal or a DNS name, port 1-65535)' }),
  state: z.enum(HOST_STATES),
  version: text(64),
  device: text(64),
  kvCapacityBytes: count,
  kvFreeBytes: count,
  /** Steps queued or running at publication. */
  queueDepth: count,
  /** Tokens per second the host measured (advisory: routers trust their own measurements). */
  throughput: count,
  /** Whether the host was started with --auto (may migrate). */
  auto: z.boolean(),
  /** Monotonic per host; the higher wins. */
  seq: z.number().finite().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** ms since the epoch after which the record is invalid. */
  expiresAt: z.number().finite().nonnegative().max(Number.MAX_SAFE_INTEGER),
}).strip();

export type HostRecord = z.infer<typeof hostRecordSchema>;
export type HostState = HostRecord['state'];

/** The first problem of a record that fails the schema, as `field: message`. */
export function describeIssue(error: z.ZodError): string {
  const i = error.issues[0];
  return `${i.path.length > 0 ? i.path.join('.') : 'record'}: ${i.message}`;
}
