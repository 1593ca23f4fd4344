/**
 * The server side of one `Session` stream: the first message opens a session (reserving its KV
 * cache), then steps run strictly in arrival order, each answered with its `step_id`. Any error ends
 * the stream with a status naming what was wrong and frees the session; the host keeps serving.
 * An evicted or reclaimed session, a shutdown, or a `close`/half-close ends the stream too.
 *
 * Bounds against hostile peers (host-limits.ts): the stream holds one of its peer's Session-stream
 * slots until grpc-js closes it; a stream with no `open` within `openTimeoutMs` is ended; at most
 * `maxStepsInFlight` steps may be received and unanswered (one more is RESOURCE_EXHAUSTED), and
 * their bytes count against the peer's in-flight budget; a reply waits for the client to read the
 * previous ones (write backpressure), so a client that stops reading stalls its own stream, whose
 * pending steps then hit the bound, instead of growing the host's buffers.
 *
 * Chained sessions (host-to-host forwarding): a session opened with a `push_token` takes steps
 * pushed by the host of the stage before it (push-inbox.ts), queued in order with the router's own
 * messages and answered to the router under the step id the push names, with the SHA-256 of the
 * input so that the router can check it. A step (sent or pushed) with a path to go pushes its output
 * on (pusher.ts) while it answers; a push that fails is reported after the answer (`push_failed`),
 * and the router then sends that input itself as a step that `replaces_push`: of a push and its
 * replacement, whichever comes first runs and the other is dropped. Pushed steps count against
 * --max-steps-in-flight and their bytes against the pushing peer's in-flight budget.
 */
import type * as grpc from '@grpc/grpc-js';
import { CancelledError, FailedPreconditionError, InternalError, InvalidArgumentError, ResourceExhaustedError, SwarmpathError, UnavailableError, UnknownSessionError } from '../shared/errors.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';
import { decodeTensor, encodeTensor, tensorDigest, wireDtypeOf } from '../shared/grpc/tensor-codec.ts';
import type { PushTargetMsg, SessionRequestMsg, SessionResponseMsg } from '../shared/grpc/wire-types.ts';
import type { Logger } from '../shared/log.ts';
import type { F32 } from '../shared/runtime-types.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import type { HostCore } from './host-core.ts';
import type { SessionStreamLimits } from './host-limits.ts';
import type { KvSession } from './kv-session.ts';
import { holdForCall, type Lease, type PeerLedger } from './peer-ledger.ts';
import type { PushedStep, PushRegistry, PushSink } from './push-inbox.ts';
import type { Pusher } from './pusher.ts';
import { startStageSpan } from '../shared/telemetry/stage-span.ts';
import type { StageSpan } from '../shared/telemetry/stage-span.ts';
import { extractTraceContext, SpanKind } from '../shared/telemetry/trace.ts';

export type SessionCall = grpc.ServerDuplexStream<SessionRequestMsg, SessionResponseMsg>;

/** Live session streams, so that shutdown can end them. */
export interface SessionRegistry {
  add(end: (err: SwarmpathError) => void): () => void;
  endAll(err: SwarmpathError): void;
  size(): number;
}

/** An empty registry. */
export function createSessionRegistry(): SessionRegistry {
  const live = new Set<(err: SwarmpathError) => void>();
  return {
    add(end) { live.add(end); return () => live.delete(end); },
    endAll(err) { for (const end of [...live]) end(err); },
    size: () => live.size,
  };
}

/** Who is calling, and the bounds of their stream. */
export interface SessionContext {
  /** The caller's accounting key (peer-key.ts). */
  peer: string;
  ledger: PeerLedger;
  limits: SessionStreamLimits;
  /** Host-to-host forwarding; without it a `push_token` is refused. */
  chain?: { registry: PushRegistry; pusher: Pusher };
}

/** Push ids remembered per session (a replacement comes within a few steps of its push). */
const SEEN_PUSHES = 64;

/** What a session's queue holds: the stream's messages and pushed steps. */
type Queued = SessionRequestMsg | { kind: 'pushed'; pushed: PushedStep };

/** Serves one Session stream until it ends. */
export function handleSession(call: SessionCall, core: HostCore, registry: SessionRegistry, log: Logger, ctx: SessionContext): void {
  // Held until the call is really over: a stream whose status waits behind replies its client
  // does not read still costs the host, so it keeps its slot.
  if (!holdForCall(call, ctx.ledger, ctx.peer, 'streams')) return;
  let session: KvSession | undefined;
  let unregisterPush = () => {};
  /** Push ids run or dropped already: a push and the router's replacement of it run once. */
  const seenPushes = new Set<number>();
  let reply: WireDtype = 'float32';
  let done = false;
  let chain: Promise<void> = Promise.resolve();
  let unsubscribeEnd = () => {};
  /** The session's span (tracing; a no-op while tracing is off). */
  let span: StageSpan | undefined;
  let pending = 0;
  let wakeDrain: (() => void) | undefined;
  const openTimer = setTimeout(() => {
    if (!session) finish(new FailedPreconditionError(`no \`open\` within ${ctx.limits.openTimeoutMs / 1000} s: the first message of a Session stream must be \`open\``));
  }, ctx.limits.openTimeoutMs);

  const finish = (err?: SwarmpathError) => {
    if (done) return;
    done = true;
    clearTimeout(openTimer);
    wakeDrain?.();
    unregister();
    unsubscribeEnd();
    unregisterPush();
    if (session) core.closeSession(session.id);
    span?.end(err && err.code !== 'CANCELLED' ? err : undefined);
    if (err) {
      if (err.code !== 'CANCELLED') log.debug('session stream ended with an error', { code: err.code, message: err.message });
      call.emit('error', toGrpcError(err));
    } else {
      call.end();
    }
    call.pause(); // what else arrives is dropped unread: HTTP/2 flow control stops the sender
  };
  /** Writes a reply; resolves once the client has room for more (or the stream ended). */
  const send = async (m: SessionResponseMsg): Promise<void> => {
    if (call.write(m) || done) return;
    await new Promise<void>((r) => {
      wakeDrain = () => { call.off('drain', wakeDrain!); wakeDrain = undefined; r(); };
      call.once('drain', wakeDrain);
    });
  };
  const unregister = registry.add((err) => finish(err));

  const handle = async (msg: Queued): Promise<void> => {
    if (done) return;
    if (msg.kind === 'open' && msg.open) {
      if (session) throw new FailedPreconditionError('this stream already has an open session; open a new stream for another');
      const o = msg.open;
      reply = wireDtypeOf(o.replyDtype) ?? 'float32';
      if (o.pushToken.length > 0 && !ctx.chain) throw new FailedPreconditionError('this host does not take pushed inputs: open the session without a push_token');
      session = core.openSession(o.expertId, o.maxLength, ctx.peer);
      if (o.pushToken.length > 0 && ctx.chain) unregisterPush = ctx.chain.registry.open(session.id, o.pushToken, onPushed);
      clearTimeout(openTimer);
      span = startStageSpan(`Session ${o.expertId}`, {
        'swarmpath.expert': o.expertId, 'swarmpath.session_id': session.id, 'swarmpath.max_length': o.maxLength,
        'swarmpath.client_session_id': o.clientSessionId ?? '',
      }, { kind: SpanKind.SERVER, parent: extractTraceContext(call.metadata.getMap()) });
      unsubscribeEnd = core.onSessionEnd(session.id, (reason) => {
        if (reason === 'evicted') finish(new UnknownSessionError(`session ${session!.id} was evicted after being idle; open a new session and replay`));
        else if (reason === 'reclaimed') finish(new ResourceExhaustedError(`session ${session!.id} was reclaimed: your peer held more than its share of this host's KV cache (--peer-kv-share) and another peer needed room; replay it elsewhere`));
        else if (reason === 'retired') finish(new UnavailableError(`this host no longer serves expert ${session!.expertId}; replay the session on another replica`));
      });
      await send({ opened: { sessionId: session.id, kvReservedBytes: session.reservedBytes } });
    } else if (msg.kind === 'step' && msg.step) {
      if (!session) throw new FailedPreconditionError('step before open: the first message of a Session stream must be `open`');
      const st = msg.step;
      if (st.replacesPush > 0 && !firstOfPush(st.replacesPush)) return;
      const hidden = decodeTensor(st.hidden, [1, null, core.dims.d_model], 'step hidden');
      await runStep(st.stepId, st.position, hidden, st.pushTo, st.replacesPush > 0);
    } else if (msg.kind === 'pushed' && msg.pushed) {
      const p = msg.pushed;
      // A push extends the session; an old one replayed (its tag still valid) must not rewrite the cache.
      if (!session || p.position !== session.length || !firstOfPush(p.pushId)) {
        log.debug('pushed step dropped', { pushId: p.pushId, position: p.position, length: session?.length });
        return;
      }
      await runStep(p.stepId, p.position, p.hidden, p.next, true);
    } else if (msg.kind === 'close') {
      finish();
    } else {
      throw new InvalidArgumentError('empty SessionRequest: set one of open, step, close');
    }
  };

  /** Whether this is the first of a push and its replacement (the other is dropped). */
  const firstOfPush = (pushId: number): boolean => {
    if (seenPushes.has(pushId)) return false;
    seenPushes.add(pushId);
    if (seenPushes.size > SEEN_PUSHES) seenPushes.delete(seenPushes.values().next().value as number);
    return true;
  };

  /** Runs one step and answers it; with a path to go, pushes the output on while answering. */
  const runStep = async (stepId: number, position: number, hidden: F32, path: readonly PushTargetMsg[], chained: boolean): Promise<void> => {
    const t0 = performance.now();
    const r = await core.step(session!, position, hidden);
    if (hidden.dims[1] > 1) span?.prefill(hidden.dims[1], performance.now() - t0);
    else span?.decode(performance.now() - t0);
    if (done) return;
    const out = encodeTensor({ data: r.hidden, dims: hidden.dims }, reply);
    const push = path.length > 0 && ctx.chain !== undefined;
    if (push) {
      ctx.chain!.pusher.push(path, position, out, (reason) => {
        if (!done) void send({ pushFailed: { stepId, error: reason } });
      });
    }
    await send({ step: { stepId, hidden: out, length: r.length, pushed: push, inputDigest: chained ? tensorDigest(hidden) : Buffer.alloc(0) } });
  };

  /** A pushed step for this session: queued like a message of the stream (push-inbox.ts hands it over). */
  const onPushed: PushSink = (p, lease) => {
    if (done) {
      lease?.release();
      return;
    }
    enqueue({ kind: 'pushed', pushed: p }, lease);
  };

  /** Queues a message behind the ones before it; steps count against --max-steps-in-flight and hold their bytes' lease until done. */
  const enqueue = (msg: Queued, bytes: Lease | undefined): void => {
    const isStep = msg.kind === 'step' || msg.kind === 'pushed';
    if (isStep) {
      if (pending >= ctx.limits.maxStepsInFlight) {
        bytes?.release();
        finish(new ResourceExhaustedError(`more than ${ctx.limits.maxStepsInFlight} steps in flight on this stream (--max-steps-in-flight): read results before sending more steps`));
        return;
      }
      pending++;
    }
    chain = chain.then(() => handle(msg))
      .catch((err) => finish(err instanceof SwarmpathError ? err : new InternalError(String((err as Error)?.message ?? err), err)))
      .finally(() => { bytes?.release(); if (isStep) pending--; });
  };

  call.on('data', (msg: SessionRequestMsg) => {
    if (done) return;
    let bytes: Lease | undefined;
    if (msg.kind === 'step') {
      try {
        bytes = ctx.ledger.acquire(ctx.peer, 'inflightBytes', msg.step?.hidden?.data?.byteLength ?? 0);
      } catch (err) {
        finish(err as SwarmpathError);
        return;
      }
    }
    enqueue(msg, bytes);
  });
  call.on('end', () => { chain = chain.then(() => finish()); });
  call.on('cancelled', () => finish(new CancelledError('client cancelled the session')));
  call.on('error', () => finish(new CancelledError('session stream failed')));
}
