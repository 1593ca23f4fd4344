/**
 * The client side of one generation session: a bidirectional `Session` stream whose first message
 * opens the session; steps are written as they come and their results matched by `step_id`, so
 * several steps may be in flight (the host runs them in order). Each step has its own deadline; a
 * step that times out is rejected while the stream stays usable (a retry at the same position is
 * idempotent). A stream that ends with a status rejects every pending and later step with that error.
 *
 * Opened with `acceptPush`, the session has a fresh random push key (sent in `open`) and `chain`:
 * `expect` reserves a step id for a step the host will get by push (its target carries the push tag,
 * shared/push-tag.ts), `step` sends one whose output the host pushes along a path, and the host's
 * `push_failed` messages resolve the matching `pushFailed`.
 */
import type * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { SwarmpathError, CancelledError, DeadlineExceededError, InternalError, UnavailableError, UnknownSessionError } from '../errors.ts';
import type { F32 } from '../runtime-types.ts';
import type { CallOpts, ChainedStepCall, ChainedStepResult, ChainedSteps, ExpectedStep, ExpertSession, PushTarget, WireDtype } from '../transport-types.ts';
import { pushTag } from '../push-tag.ts';
import { linkAbort } from './call-options.ts';
import { fromServiceError } from './errors.ts';
import { decodeTensor, encodeTensor, protoDtype } from './tensor-codec.ts';
import type { SessionRequestMsg, SessionResponseMsg } from './wire-types.ts';

interface Pending {
  resolve(r: ChainedStepResult): void;
  reject(e: SwarmpathError): void;
  dims: readonly (number | null)[];
  cleanup(): void;
}

/** Bytes of a chained session's push key (proto: SessionOpen.push_token). */
const PUSH_TOKEN_BYTES = 16;
/** Chained steps whose push failure is still listened for (the oldest are forgotten). */
const PUSH_WATCH = 16;

/** What the session client needs of its stream: a grpc-js Session stream, or a sub-stream of session-mux.ts. */
export interface SessionStream {
  write(msg: SessionRequestMsg): boolean;
  end(): void;
  cancel(): void;
  on(event: 'data', fn: (m: SessionResponseMsg) => void): this;
  on(event: 'error', fn: (e: Error) => void): this;
  on(event: 'status', fn: (s: grpc.StatusObject) => void): this;
}

/** Opens a session on `stream` (already started); resolves once the host answers `opened`. */
export function openSessionOnStream(stream: SessionStream, address: string, init: {
  expertId: string; maxLength: number; clientSessionId?: string; opts: CallOpts;
  /** Chained steps: the host takes pushed steps tagged with a fresh random key (ExpertSession.chain, shared/push-tag.ts). */
  acceptPush?: boolean;
}): Promise<ExpertSession & { readonly sessionId: string; readonly kvReservedBytes: number }> {
  const wire: WireDtype = init.opts.wireDtype ?? 'float32';
  const pushToken = init.acceptPush ? randomBytes(PUSH_TOKEN_BYTES) : undefined;
  const pending = new Map<number, Pending>();
  /** Chained steps with a push, by step id: resolves the reason if the host reports the push failed. */
  const pushWatch = new Map<number, (reason: string) => void>();
  let nextStepId = 1;
  let failure: SwarmpathError | undefined;
  let closed = false;
  let sessionId = '';
  let kvReservedBytes = 0;

  return new Promise((resolveOpen, rejectOpen) => {
    let opened = false;
    const failAll = (err: SwarmpathError) => {
      if (!failure) failure = err;
      closed = true;
      pushWatch.clear();
      for (const p of pending.values()) { p.cleanup(); p.reject(err); }
      pending.clear();
      if (!opened) { opened = true; clearTimeout(openTimer); detachOpen(); rejectOpen(err); }
    };
    const openTimer = setTimeout(() => {
      failAll(new DeadlineExceededError(`session open on ${address} exceeded its deadline`));
      stream.cancel();
    }, Math.max(0, init.opts.deadlineMs - Date.now()));
    const detachOpen = linkAbort(init.opts.signal, stream);

    stream.on('data', (msg: SessionResponseMsg) => {
      if (msg.kind === 'opened' && msg.opened && !opened) {
        opened = true;
        clearTimeout(openTimer);
        detachOpen();
        sessionId = msg.opened.sessionId;
        kvReservedBytes = msg.opened.kvReservedBytes;
        resolveOpen(session);
      } else if (msg.kind === 'step' && msg.step) {
        const p = pending.get(msg.step.stepId);
        if (!p) return; // a step that already timed out or was cancelled
        pending.delete(msg.step.stepId);
        p.cleanup();
        try {
          const hidden = decodeTensor(msg.step.hidden, p.dims, 'step result');
          p.resolve({ hidden, pushed: msg.step.pushed, ...(msg.step.inputDigest.length > 0 ? { inputDigest: new Uint8Array(msg.step.inputDigest) } : {}) });
        } catch (err) {
          p.reject(new InternalError(`host ${address} sent a bad step result: ${(err as Error).message}`));
        }
      } else if (msg.kind === 'pushFailed' && msg.pushFailed) {
        const notify = pushWatch.get(msg.pushFailed.stepId);
        pushWatch.delete(msg.pushFailed.stepId);
        notify?.(msg.pushFailed.error || 'push failed');
      }
    });
    stream.on('error', (err) => failAll(fromServiceError(err, address)));
    // A non-OK status arrives as 'error' first; an OK status means the host ended the session.
    stream.on('status', () => failAll(new UnavailableError(`session stream to ${address} ended`)));

    /** Awaits step `stepId`'s result (matched by step id); rejects on its deadline, an abort or the stream's end. */
    const expectResult = (stepId: number, position: number, dims: readonly (number | null)[], opts: CallOpts): Promise<ChainedStepResult> => {
      if (closed) {
        return Promise.reject(failure ?? new UnknownSessionError(`session ${sessionId} on ${address} is closed`));
      }
      return new Promise<ChainedStepResult>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (!pending.delete(stepId)) return;
          cleanup();
          reject(new DeadlineExceededError(`session step at position ${position} on ${address} exceeded its deadline`));
        }, Math.max(0, opts.deadlineMs - Date.now()));
        const onAbort = () => {
          if (!pending.delete(stepId)) return;
          cleanup();
          reject(new CancelledError(`session step at position ${position} was cancelled`));
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        const cleanup = () => { clearTimeout(timer); opts.signal?.removeEventListener('abort', onAbort); };
        pending.set(stepId, { resolve, reject, dims, cleanup });
        if (opts.signal?.aborted) onAbort();
      });
    };
    const writeStep = (stepId: number, position: number, hidden: F32, path: readonly PushTarget[], replacesPush: number, dtype: WireDtype): void => {
      if (closed) return;
      stream.write({ step: {
        stepId, position, hidden: encodeTensor(hidden, dtype), replacesPush,
        pushTo: path.map((t) => ({ address: t.address, sessionId: t.sessionId, tag: Buffer.from(t.tag), pushId: t.pushId, stepId: t.stepId })),
      } });
    };
    /** Resolves the reason if the host reports that step `stepId`'s push failed; else never. */
    const watchPush = (stepId: number): Promise<string> => new Promise<string>((resolve) => {
      pushWatch.set(stepId, resolve);
      if (pushWatch.size > PUSH_WATCH) pushWatch.delete(pushWatch.keys().next().value as number);
    });
    /** Sends one step; resolves its result. */
    const send = (hidden: F32, position: number, path: readonly PushTarget[], opts: CallOpts, stepId = nextStepId++): Promise<ChainedStepResult> => {
      const result = expectResult(stepId, position, hidden.dims, opts);
      if (!closed && !opts.signal?.aborted) writeStep(stepId, position, hidden, path, 0, opts.wireDtype ?? wire);
      return result;
    };

    const chain: ChainedSteps | undefined = pushToken && {
      expect(position, T, pushId, opts): ExpectedStep {
        const stepId = nextStepId++;
        const target: PushTarget = { address, sessionId, tag: pushTag(pushToken, pushId, stepId, position), pushId, stepId };
        return {
          target, result: expectResult(stepId, position, [1, T, null], opts), pushFailed: watchPush(stepId),
          replace: (hidden, path) => writeStep(stepId, position, hidden, path, pushId, opts.wireDtype ?? wire),
        };
      },
      step(hidden, position, path, opts): ChainedStepCall {
        const stepId = nextStepId++;
        return { pushFailed: path.length > 0 ? watchPush(stepId) : new Promise<string>(() => {}), result: send(hidden, position, path, opts, stepId) };
      },
    };

    const session = {
      ...(chain ? { chain } : {}),
      get closed() { return closed; },
      get sessionId() { return sessionId; },
      get kvReservedBytes() { return kvReservedBytes; },
      async step(hidden: F32, position: number, opts: CallOpts): Promise<F32> {
        return (await send(hidden, position, [], opts)).hidden;
      },
      close(): void {
        if (closed) return;
        closed = true;
        failure = new UnknownSessionError(`session ${sessionId} on ${address} was closed`);
        pushWatch.clear();
        for (const p of pending.values()) { p.cleanup(); p.reject(new CancelledError('session closed with a step in flight')); }
        pending.clear();
        try {
          stream.write({ close: {} });
          stream.end();
        } catch { /* the stream is already gone */ }
      },
    };

    stream.write({ open: {
      expertId: init.expertId, maxLength: init.maxLength, replyDtype: protoDtype(wire), clientSessionId: init.clientSessionId ?? '',
      pushToken: pushToken ?? Buffer.alloc(0),
    } });
  });
}
