/**
 * The server side of `Sessions` (proto: SessionsRequest): many sessions of one peer over one stream.
 * Each sub-stream is served by session-handler.ts exactly as a Session stream would be (its own
 * stream slot, limits, KV session, push key and status); this file only carries its messages. What
 * the sub-streams write within one event-loop turn leaves as one message, so the results of a batch
 * of steps (expert-host/step-batcher.ts) reach the router together.
 *
 * The stream itself holds one of its peer's stream slots. Backpressure: when the stream's buffer is
 * full every sub-stream's write reports it (the handler then waits for 'drain'), so a router that
 * stops reading stalls its own sessions, not the host. The stream ending or failing cancels every
 * sub-stream; `end()` (shutdown) ends the stream once its sub-streams have ended.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { CODE_TRAILER, type GrpcStatusError } from '../shared/grpc/errors.ts';
import type { SessionRequestMsg, SessionResponseMsg, SessionsRequestMsg, SessionsResponseItemMsg, SessionsResponseMsg } from '../shared/grpc/wire-types.ts';
import { holdForCall, type PeerLedger } from './peer-ledger.ts';
import type { SessionCall } from './session-handler.ts';

export type SessionsCall = grpc.ServerDuplexStream<SessionsRequestMsg, SessionsResponseMsg>;

export interface SessionMuxInit {
  peer: string;
  ledger: PeerLedger;
  /** Serves one sub-stream (session-handler.ts's handleSession with this peer's context). */
  serve(call: SessionCall): void;
}

/** One sub-stream, shaped as the grpc-js server stream that session-handler.ts drives. */
class SubCall extends EventEmitter {
  readonly metadata = new grpc.Metadata();
  #ended = false;
  #paused = false;
  readonly #id: number;
  readonly #mux: ServerMux;

  constructor(id: number, traceparent: string, mux: ServerMux) {
    super();
    this.#id = id;
    this.#mux = mux;
    if (traceparent) this.metadata.set('traceparent', traceparent);
    // The handler ends a stream with a status by emitting 'error' (as on a grpc-js server stream).
    this.on('error', (e: GrpcStatusError) => this.#end(e.code ?? grpc.status.INTERNAL, e.details ?? String(e), e.metadata?.get(CODE_TRAILER)[0]));
  }

  getPeer(): string { return this.#mux.peerAddress; }

  write(m: SessionResponseMsg): boolean {
    if (this.#ended) return false;
    this.#mux.send({ stream: this.#id, response: m, end: false, code: 0, message: '', swarmpathCode: '' });
    return !this.#mux.blocked;
  }

  end(): void { this.#end(grpc.status.OK, ''); }

  pause(): void { this.#paused = true; }

  /** A message of the client for this sub-stream. */
  receive(m: SessionRequestMsg): void { if (!this.#paused && !this.#ended) this.emit('data', m); }

  /** The client is done writing. */
  halfClose(): void { if (!this.#ended) this.emit('end'); }

  /** The client (or the whole stream) went away: the handler frees the session; nothing is answered. */
  cancel(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#mux.forget(this.#id, this);
    this.emit('cancelled');
    this.emit('close');
  }

  #end(code: number, message: string, swarmpathCode?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#mux.send({ stream: this.#id, response: null, end: true, code, message, swarmpathCode: typeof swarmpathCode === 'string' ? swarmpathCode : '' });
    this.#mux.forget(this.#id, this);
    setImmediate(() => this.emit('close'));
  }
}

/** Carries one `Sessions` stream's sub-streams. */
class ServerMux {
  readonly #call: SessionsCall;
  readonly #init: SessionMuxInit;
  readonly #subs = new Map<number, SubCall>();
  #out: SessionsResponseItemMsg[] = [];
  #scheduled = false;
  #closed = false;
  #ending = false;
  blocked = false;
  readonly peerAddress: string;

  constructor(call: SessionsCall, init: SessionMuxInit) {
    this.#call = call;
    this.#init = init;
    this.peerAddress = call.getPeer();
  }

  start(): void {
    const call = this.#call;
    call.on('data', (m: SessionsRequestMsg) => {
      for (const it of m.items ?? []) {
        let sub = this.#subs.get(it.stream);
        if (!sub) {
          // A sub-stream starts with its `open`; anything else belongs to one that ended here (its
          // client had sent on before it heard), and no new sessions start while ending.
          if (it.request?.kind !== 'open' || this.#ending) continue;
          sub = new SubCall(it.stream, it.traceparent, this);
          this.#subs.set(it.stream, sub);
          this.#init.serve(sub as unknown as SessionCall);
        }
        if (it.request) sub.receive(it.request);
        if (it.halfClose) sub.halfClose();
        if (it.cancel) sub.cancel();
      }
    });
    call.on('drain', () => {
      this.blocked = false;
      for (const s of this.#subs.values()) s.emit('drain');
    });
    call.on('end', () => { this.#closeAll(); try { call.end(); } catch { /* already gone */ } });
    call.on('cancelled', () => this.#closeAll());
    call.on('error', () => this.#closeAll());
    call.once('close', () => this.#closeAll());
  }

  /** Queues an item; the items of one event-loop turn leave as one message. */
  send(item: SessionsResponseItemMsg): void {
    if (this.#closed) return;
    this.#out.push(item);
    // A lone session has no one to wait for.
    if (this.#subs.size <= 1 && !this.#scheduled) { this.#flush(); return; }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  forget(id: number, sub: SubCall): void {
    if (this.#subs.get(id) === sub) this.#subs.delete(id);
    if (this.#ending && this.#subs.size === 0) this.#finish();
  }

  /** Shutdown: no new sub-streams; the stream ends once the open ones have (session registry ends them). */
  end(): void {
    this.#ending = true;
    if (this.#subs.size === 0) this.#finish();
  }

  #flush(): void {
    this.#scheduled = false;
    const items = this.#out;
    this.#out = [];
    if (items.length === 0 || this.#closed) return;
    if (!this.#call.write({ items })) this.blocked = true;
  }

  #finish(): void {
    if (this.#closed) return;
    setImmediate(() => {
      this.#flush();
      if (this.#closed) return;
      this.#closed = true;
      this.#call.end();
    });
  }

  #closeAll(): void {
    this.#closed = true;
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const s of subs) s.cancel();
  }
}

/** The live `Sessions` streams of a server, so that shutdown can end them. */
export type MuxSet = Set<{ end(): void }>;

/** Serves one `Sessions` stream until it ends. */
export function handleSessionMux(call: SessionsCall, init: SessionMuxInit, live: MuxSet): void {
  if (!holdForCall(call, init.ledger, init.peer, 'streams')) return;
  const mux = new ServerMux(call, init);
  live.add(mux);
  call.once('close', () => live.delete(mux));
  mux.start();
}
