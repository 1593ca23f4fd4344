/**
 * The client side of `Sessions` (proto: SessionsRequest): many sessions to one host over one stream.
 * `SessionMux.open()` gives a sub-stream that behaves as a grpc-js Session stream to
 * session-client.ts (write, end, cancel; 'data', 'error', 'status'), and whatever the sub-streams
 * write within one event-loop turn leaves as one message. A router running 32 sessions through a
 * host thus sends one message per wave of steps instead of 32, and the host answers a batch of
 * results in one message too (expert-host/session-mux.ts).
 *
 * A stream is used for new sessions for MUX_ROTATE_MS, then left to end with its last session.
 *
 * A host that does not know `Sessions` (an older version) answers UNIMPLEMENTED before anything
 * else: the sub-streams opened meanwhile move to plain Session streams, replaying what they had
 * written (nothing of it ran), and the mux reports the host unsupported so that later sessions go
 * plain at once. When the stream fails later, every open sub-stream fails with its error, as its
 * own stream would have.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { CODE_TRAILER } from './errors.ts';
import type { SessionStream } from './session-client.ts';
import type { SessionRequestMsg, SessionResponseMsg, SessionsRequestItemMsg, SessionsRequestMsg, SessionsResponseMsg } from './wire-types.ts';

export type SessionsCall = grpc.ClientDuplexStream<SessionsRequestMsg, SessionsResponseMsg>;

/** How the mux reaches the host: its `Sessions` stream, and a plain Session stream for the fallback. */
export interface SessionMuxInit {
  openMux(): SessionsCall;
  openPlain(traceparent: string): SessionStream;
  /** The host answered UNIMPLEMENTED: it has no `Sessions`. */
  onUnsupported(): void;
}

type Op = { type: 'write'; msg: SessionRequestMsg } | { type: 'end' } | { type: 'cancel' };

/** A status error as grpc-js would emit it (session-client.ts turns it into a SwarmpathError). */
function statusError(code: number, details: string, swarmpathCode = ''): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (swarmpathCode) metadata.set(CODE_TRAILER, swarmpathCode);
  return Object.assign(new Error(`${code} ${grpc.status[code] ?? ''}: ${details}`), { code, details, metadata });
}

/** One session's sub-stream. */
class SubStream extends EventEmitter {
  /** What was written while the host's support is unknown (replayed onto a plain stream if it has none). */
  #log: Op[] | undefined;
  #plain: SessionStream | undefined;
  #done = false;
  #traceSent = false;
  readonly id: number;
  readonly traceparent: string;
  readonly #mux: MuxStream;

  constructor(id: number, traceparent: string, mux: MuxStream, logging: boolean) {
    super();
    this.id = id;
    this.traceparent = traceparent;
    this.#mux = mux;
    this.#log = logging ? [] : undefined;
  }

  write(msg: SessionRequestMsg): boolean {
    if (this.#plain) return this.#plain.write(msg);
    if (this.#done) return false;
    this.#log?.push({ type: 'write', msg });
    this.#mux.send(this, { request: msg });
    return true;
  }

  end(): void {
    if (this.#plain) { this.#plain.end(); return; }
    if (this.#done) return;
    this.#log?.push({ type: 'end' });
    this.#mux.send(this, { halfClose: true });
  }

  cancel(): void {
    if (this.#plain) { this.#plain.cancel(); return; }
    if (this.#done) return;
    this.#log?.push({ type: 'cancel' });
    this.#mux.send(this, { cancel: true });
    this.finish(statusError(grpc.status.CANCELLED, 'Cancelled on client'));
  }

  /** The trace context for the sub-stream's first item, '' after it. */
  takeTraceparent(): string {
    const t = this.#traceSent ? '' : this.traceparent;
    this.#traceSent = true;
    return t;
  }

  /** The host supports `Sessions`: nothing needs replaying. */
  confirm(): void { this.#log = undefined; }

  /** The host's answer for this sub-stream. */
  deliver(msg: SessionResponseMsg): void { if (!this.#done) this.emit('data', msg); }

  /** Ends the sub-stream with a status: 'error' first unless OK, then 'status' (as grpc-js does). */
  finish(err: grpc.ServiceError | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#mux.forget(this);
    if (err) this.emit('error', err);
    this.emit('status', { code: err?.code ?? grpc.status.OK, details: err?.details ?? '', metadata: err?.metadata ?? new grpc.Metadata() });
  }

  /** Moves to a plain Session stream, replaying what was written (the host ran none of it). */
  fallBack(plain: SessionStream): void {
    const log = this.#log ?? [];
    this.#log = undefined;
    this.#plain = plain;
    plain.on('data', (m: SessionResponseMsg) => this.emit('data', m));
    plain.on('error', (e: Error) => this.emit('error', e));
    plain.on('status', (s: grpc.StatusObject) => this.emit('status', s));
    for (const op of log) {
      if (op.type === 'write') plain.write(op.msg);
      else if (op.type === 'end') plain.end();
      else plain.cancel();
    }
  }
}

/** A `Sessions` stream older than this takes no new sub-streams (a host recycles connections hourly, host-limits.ts). */
export const MUX_ROTATE_MS = 5 * 60_000;
/**
 * A `Sessions` stream without sessions for this long is closed, so that the connection to a host
 * no longer used can go idle and close (hosts close idle connections after 5 min, host-limits.ts).
 */
export const MUX_IDLE_MS = 60_000;

/**
 * Many sessions over `Sessions` streams to one host: new sub-streams go on the current stream, a new
 * one once it died or is MUX_ROTATE_MS old (the old one ends when its last sub-stream has). Rotating
 * keeps every stream well within the grace a host gives a recycled connection, so that no session
 * is cut by the recycling. A stream left without sessions for `idleMs` is closed.
 */
export class SessionMux {
  readonly #init: SessionMuxInit;
  readonly #clock: () => number;
  #current: MuxStream | undefined;
  readonly #retired = new Set<MuxStream>();
  #nextId = 1;
  readonly #idleMs: number;

  constructor(init: SessionMuxInit, clock: () => number = Date.now, idleMs = MUX_IDLE_MS) {
    this.#init = init;
    this.#clock = clock;
    this.#idleMs = idleMs;
  }

  /** A new session's sub-stream; `traceparent` (may be '') is its trace context. */
  open(traceparent: string): SessionStream {
    const now = this.#clock();
    if (this.#current && (this.#current.dead || now - this.#current.startedAt >= MUX_ROTATE_MS)) {
      const old = this.#current;
      this.#current = undefined;
      if (!old.dead) { this.#retired.add(old); old.retire(() => this.#retired.delete(old)); }
    }
    this.#current ??= new MuxStream(this.#init, now, this.#idleMs);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffff_fff0 ? 1 : this.#nextId + 1;
    return this.#current.open(id, traceparent);
  }

  /** `Sessions` streams open now (the current one and retired ones still carrying sessions). */
  get streams(): number { return this.#retired.size + (this.#current && !this.#current.dead ? 1 : 0); }

  /** Ends every stream; open sub-streams fail as a closed channel's streams would. */
  close(): void {
    for (const m of [...this.#retired, ...(this.#current ? [this.#current] : [])]) m.close();
    this.#retired.clear();
    this.#current = undefined;
  }
}

/** One `Sessions` stream and its sub-streams. */
class MuxStream {
  readonly #init: SessionMuxInit;
  readonly #call: SessionsCall;
  readonly startedAt: number;
  #subs = new Map<number, SubStream>();
  #out: SessionsRequestItemMsg[] = [];
  #scheduled = false;
  /** The host has answered (so it knows `Sessions`). */
  #confirmed = false;
  dead = false;
  #onRetiredEnd: (() => void) | undefined;
  readonly #idleMs: number;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(init: SessionMuxInit, now: number, idleMs: number) {
    this.#init = init;
    this.startedAt = now;
    this.#idleMs = idleMs;
    this.#call = init.openMux();
    this.#listen();
  }

  open(id: number, traceparent: string): SessionStream {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const sub = new SubStream(id, traceparent, this, !this.#confirmed);
    this.#subs.set(id, sub);
    return sub as unknown as SessionStream;
  }

  /** Takes no more sub-streams; ends once the last one has. */
  retire(onEnd: () => void): void {
    this.#onRetiredEnd = onEnd;
    if (this.#subs.size === 0) this.close();
  }

  close(): void {
    if (this.dead) return;
    this.#die(statusError(grpc.status.CANCELLED, 'session mux closed'));
    try { this.#call.cancel(); } catch { /* already gone */ }
  }

  /** Queues an item of `sub`; items of one event-loop turn leave as one message. */
  send(sub: SubStream, item: Partial<SessionsRequestItemMsg>): void {
    if (this.dead) return;
    this.#out.push({ stream: sub.id, request: null, halfClose: false, cancel: false, traceparent: sub.takeTraceparent(), ...item });
    // A lone session has no one to wait for.
    if (this.#subs.size <= 1 && !this.#scheduled) { this.#flush(); return; }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** A sub-stream ended. */
  forget(sub: SubStream): void {
    if (this.#subs.get(sub.id) === sub) this.#subs.delete(sub.id);
    if (this.#subs.size > 0 || this.dead) return;
    if (this.#onRetiredEnd) { setImmediate(() => this.close()); return; }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => { if (this.#subs.size === 0) this.close(); }, this.#idleMs);
    this.#idleTimer.unref();
  }

  #flush(): void {
    this.#scheduled = false;
    const items = this.#out;
    this.#out = [];
    if (items.length === 0 || this.dead) return;
    try {
      this.#call.write({ items });
    } catch {
      // The stream is gone: its 'error'/'status' fail the sub-streams.
    }
  }

  #listen(): void {
    const call = this.#call;
    call.on('data', (m: SessionsResponseMsg) => {
      if (this.dead) return;
      if (!this.#confirmed) {
        this.#confirmed = true;
        for (const s of this.#subs.values()) s.confirm();
      }
      for (const it of m.items ?? []) {
        const sub = this.#subs.get(it.stream);
        if (!sub) continue; // ended (cancelled) here already
        if (it.response) sub.deliver(it.response);
        if (it.end) sub.finish(it.code === grpc.status.OK ? undefined : statusError(it.code, it.message || 'session ended', it.swarmpathCode));
      }
    });
    const fail = (err: grpc.ServiceError) => {
      if (this.dead) return;
      if (!this.#confirmed && err.code === grpc.status.UNIMPLEMENTED) {
        this.dead = true;
        this.#init.onUnsupported();
        const subs = [...this.#subs.values()];
        this.#subs.clear();
        this.#out = [];
        for (const s of subs) s.fallBack(this.#init.openPlain(s.traceparent));
        return;
      }
      this.#die(err);
    };
    call.on('error', (err: grpc.ServiceError) => fail(err));
    call.on('status', (st: grpc.StatusObject) => fail(statusError(st.code === grpc.status.OK ? grpc.status.UNAVAILABLE : st.code,
      st.code === grpc.status.OK ? 'the host ended the sessions stream' : st.details)));
  }

  #die(err: grpc.ServiceError): void {
    this.dead = true;
    clearTimeout(this.#idleTimer);
    this.#out = [];
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const sub of subs) sub.finish(err);
    this.#onRetiredEnd?.();
  }
}
