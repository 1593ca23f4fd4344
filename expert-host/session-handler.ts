/**
 * The server side of one `Session` stream: the first message opens a session (reserving its KV
 * cache), then steps run strictly in arrival order, each answered with its `step_id`. Any error ends
 * the stream with a status naming what was wrong and frees the session; the host keeps serving.
 * An evicted session, a shutdown, or a `close`/half-close ends the stream too.
 */
import type * as grpc from '@grpc/grpc-js';
import { SwarmpathError } from '../shared/errors.ts';
import { toGrpcError } from '../shared/grpc/errors.ts';
import { decodeTensor, encodeTensor, wireDtypeOf } from '../shared/grpc/tensor-codec.ts';
import type { SessionRequestMsg, SessionResponseMsg } from '../shared/grpc/wire-types.ts';
import type { Logger } from '../shared/log.ts';
import type { WireDtype } from '../shared/transport-types.ts';
import type { HostCore } from './host-core.ts';
import type { KvSession } from './kv-session.ts';
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

/** Serves one Session stream until it ends. */
export function handleSession(call: SessionCall, core: HostCore, registry: SessionRegistry, log: Logger): void {
  let session: KvSession | undefined;
  let reply: WireDtype = 'float32';
  let done = false;
  let chain: Promise<void> = Promise.resolve();
  let unsubscribeEnd = () => {};
  /** The session's span (tracing; a no-op while tracing is off). */
  let span: StageSpan | undefined;

  const finish = (err?: SwarmpathError) => {
    if (done) return;
    done = true;
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
  };
  const unregister = registry.add((err) => finish(err));

  const handle = async (msg: SessionRequestMsg): Promise<void> => {
    if (done) return;
    if (msg.kind === 'open' && msg.open) {
      if (session) throw new SwarmpathError('FAILED_PRECONDITION', 'this stream already has an open session; open a new stream for another');
      const o = msg.open;
      reply = wireDtypeOf(o.replyDtype) ?? 'float32';
      session = core.openSession(o.expertId, o.maxLength);
      span = startStageSpan(`Session ${o.expertId}`, {
        'swarmpath.expert': o.expertId, 'swarmpath.session_id': session.id, 'swarmpath.max_length': o.maxLength,
        'swarmpath.client_session_id': o.clientSessionId ?? '',
      }, { kind: SpanKind.SERVER, parent: extractTraceContext(call.metadata.getMap()) });
      unsubscribeEnd = core.onSessionEnd(session.id, (reason) => {
        if (reason === 'evicted') finish(new SwarmpathError('UNKNOWN_SESSION', `session ${session!.id} was evicted after being idle; open a new session and replay`));
        else if (reason === 'retired') finish(new SwarmpathError('UNAVAILABLE', `this host no longer serves expert ${session!.expertId}; replay the session on another replica`));
      });
      call.write({ opened: { sessionId: session.id, kvReservedBytes: session.reservedBytes } });
    } else if (msg.kind === 'step' && msg.step) {
      if (!session) throw new SwarmpathError('FAILED_PRECONDITION', 'step before open: the first message of a Session stream must be `open`');
      const st = msg.step;
      const hidden = decodeTensor(st.hidden, [1, null, core.dims.d_model], 'step hidden');
      const t0 = performance.now();
      const r = await core.step(session, st.position, hidden);
      if (hidden.dims[1] > 1) span?.prefill(hidden.dims[1], performance.now() - t0);
      else span?.decode(performance.now() - t0);
      if (done) return;
      call.write({ step: { stepId: st.stepId, hidden: encodeTensor({ data: r.hidden, dims: hidden.dims }, reply), length: r.length } });
    } else if (msg.kind === 'close') {
      finish();
    } else {
      throw new SwarmpathError('INVALID_ARGUMENT', 'empty SessionRequest: set one of open, step, close');
    }
  };

  call.on('data', (msg: SessionRequestMsg) => {
    chain = chain.then(() => handle(msg)).catch((err) => finish(err instanceof SwarmpathError ? err : new SwarmpathError('INTERNAL', String((err as Error)?.message ?? err), { cause: err })));
  });
  call.on('end', () => { chain = chain.then(() => finish()); });
  call.on('cancelled', () => finish(new SwarmpathError('CANCELLED', 'client cancelled the session')));
  call.on('error', () => finish(new SwarmpathError('CANCELLED', 'session stream failed')));
}
