/**
 * Host-to-host forwarding, receiving side (proto/swarmpath/v1/expert_host.proto, `Push`): the
 * sessions that take pushed steps. A session opened with a `push_token` (a key) registers here; a
 * Push that names it and carries the router's tag for exactly that push id, step id and position
 * (shared/push-tag.ts) is handed to that session's stream handler (session-handler.ts), which runs
 * it in order with the steps the router sends and answers the router with the push's step id. A
 * push to an unknown session or with a wrong tag is refused (UNKNOWN_SESSION, UNAUTHORIZED), and
 * its in-flight-bytes lease released.
 */
import { errorOf, InvalidArgumentError, UnknownSessionError } from '../shared/errors.ts';
import { pushTagValid } from '../shared/push-tag.ts';
import type { PushTargetMsg } from '../shared/grpc/wire-types.ts';
import type { F32 } from '../shared/runtime-types.ts';
import type { Lease } from './peer-ledger.ts';

/** Shortest and longest push token accepted (SessionOpen.push_token). */
export const PUSH_TOKEN_BYTES = { min: 16, max: 64 } as const;

/** A step that arrived by Push. */
export interface PushedStep {
  pushId: number;
  stepId: number;
  position: number;
  hidden: F32;
  /** Where its output goes on (the rest of the path). */
  next: PushTargetMsg[];
}

/** Takes a session's pushed steps; owns `lease` (released once the step is done or dropped). */
export type PushSink = (step: PushedStep, lease: Lease | undefined) => void;

export interface PushRegistry {
  /** Registers a session's sink under its push key; returns the unregister function. */
  open(sessionId: string, key: Uint8Array, sink: PushSink): () => void;
  /** Hands a push to its session; throws UNKNOWN_SESSION, UNAUTHORIZED or INVALID_ARGUMENT (the lease then released). */
  deliver(sessionId: string, tag: Uint8Array, step: PushedStep, lease?: Lease): void;
  /** Sessions registered. */
  size(): number;
}

export function createPushRegistry(): PushRegistry {
  const sinks = new Map<string, { key: Buffer; sink: PushSink }>();
  return {
    open(sessionId, key, sink) {
      if (key.length < PUSH_TOKEN_BYTES.min || key.length > PUSH_TOKEN_BYTES.max) {
        throw new InvalidArgumentError(`push_token must be ${PUSH_TOKEN_BYTES.min} to ${PUSH_TOKEN_BYTES.max} bytes, not ${key.length}`);
      }
      const entry = { key: Buffer.from(key), sink };
      sinks.set(sessionId, entry);
      return () => { if (sinks.get(sessionId) === entry) sinks.delete(sessionId); };
    },
    deliver(sessionId, tag, step, lease) {
      try {
        const e = sinks.get(sessionId);
        if (!e) throw new UnknownSessionError(`no chained session ${JSON.stringify(sessionId.slice(0, 64))} on this host (it ended, or it was opened without a push_token)`);
        if (!Number.isSafeInteger(step.pushId) || step.pushId <= 0) throw new InvalidArgumentError('push_id must be a positive integer below 2^53');
        if (!pushTagValid(e.key, tag, step.pushId, step.stepId, step.position)) throw errorOf('UNAUTHORIZED', 'the push tag does not match this session, push id, step id and position');
        e.sink(step, lease);
      } catch (err) {
        lease?.release();
        throw err;
      }
    },
    size: () => sinks.size,
  };
}
