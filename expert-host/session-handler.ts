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
 */
import type * as grpc from '@grpc/grpc-js';
import { CancelledError, FailedPreconditionError, InternalError, InvalidArgumentError, ResourceExhaustedError, SwarmpathError, UnavailableError, UnknownSessionError } from '../shared/errors.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';
import { decodeTensor, encodeTensor, wireDtypeOf } from '../shared/grpc/tensor-codec.ts';
import type { SessionRequestMsg, SessionResponseMsg } from '../shared/grpc/wire-types.ts';
import type { Logger } from '../shared/log.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import type { HostCore } from './host-core.ts';
import type { SessionStreamLimits } from './host-limits.ts';
import type { KvSession } from './kv-session.ts';
import type { Lease, PeerLedger } from './peer-ledger.ts';
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
}

/** Serves one Session stream until it ends. */
export function handleSession(call: SessionCall, core: HostCore, registry: SessionRegistry, log: Logger, ctx: SessionContext): void {
  let streamLease: Lease;
  try {
    streamLease = ctx.ledger.acquire(ctx.peer, 'streams');
  } catch (err) {
    call.emit('error', toGrpcError(err));
    return;
  }
  // Held until the call is really over: a stream whose status waits behind replies its client
  // does not read still costs the host, so it keeps its slot.
  call.once('close', () => streamLease.release());
  let session: KvSession | undefined;
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

  const handle = async (msg: SessionRequestMsg): Promise<void> => {
    if (done) return;
    if (msg.kind === 'open' && msg.open) {
      if (session) throw new FailedPreconditionError('this stream already has an open session; open a new stream for another');
      const o = msg.open;
      reply = wireDtypeOf(o.replyDtype) ?? 'float32';
      session = core.openSession(o.expertId, o.maxLength, ctx.peer);
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
      const hidden = decodeTensor(st.hidden, [1, null, core.dims.d_model], 'step hidden');
      const t0 = performance.now();
      const r = await core.step(session, st.position, hidden);
      if (hidden.dims[1] > 1) span?.prefill(hidden.dims[1], performance.now() - t0);
      else span?.decode(performance.now() - t0);
      if (done) return;
      await send({ step: { stepId: st.stepId, hidden: encodeTensor({ data: r.hidden, dims: hidden.dims }, reply), length: r.length } });
    } else if (msg.kind === 'close') {
      finish();
    } else {
      throw new InvalidArgumentError('empty SessionRequest: set one of open, step, close');
    }
  };

  call.on('data', (msg: SessionRequestMsg) => {
    if (done) return;
    let bytes: Lease | undefined;
    if (msg.kind === 'step') {
      if (pending >= ctx.limits.maxStepsInFlight) {
        finish(new ResourceExhaustedError(`more than ${ctx.limits.maxStepsInFlight} steps in flight on this stream (--max-steps-in-flight): read results before sending more steps`));
        return;
      }
      try {
        bytes = ctx.ledger.acquire(ctx.peer, 'inflightBytes', msg.step?.hidden?.data?.byteLength ?? 0);
      } catch (err) {
        finish(err as SwarmpathError);
        return;
      }
      pending++;
    }
    chain = chain.then(() => handle(msg))
      .catch((err) => finish(err instanceof SwarmpathError ? err : new InternalError(String((err as Error)?.message ?? err), err)))
      .finally(() => { if (bytes) { bytes.release(); pending--; } });
  });
  call.on('end', () => { chain = chain.then(() => finish()); });
  call.on('cancelled', () => finish(new CancelledError('client cancelled the session')));
  call.on('error', () => finish(new CancelledError('session stream failed')));
}
