/**
 * Admission control of generation requests, fair between clients (router/http/fair-share.ts decides):
 * at most `maxConcurrent` run at once and at most `maxQueue` wait, each for at most `queueTimeoutMs`;
 * one client (an API key, or an address when keys are off) holds about its fair share of the slots
 * plus `maxQueuePerClient` waiting. A refused request gets RateLimitedError (429 with Retry-After).
 * The server takes a slot before it reads a request's body, so a refused body is never buffered.
 */
import { CancelledError } from '../shared/errors.ts';
import { RateLimitedError } from './http/errors.ts';
import { decideEntry, pickNext } from './http/fair-share.ts';
import type { FairLimits } from './http/fair-share.ts';

export interface AdmissionInit extends FairLimits {
  /** Longest wait for a slot, ms (then 429). */
  queueTimeoutMs: number;
}

export interface Admission {
  /** Resolves a release function (idempotent) once admitted; throws RateLimitedError or CancelledError. */
  enter(client: string, signal?: AbortSignal): Promise<() => void>;
  readonly running: number;
  readonly queued: number;
  /** Running and waiting requests of one client. */
  load(client: string): { running: number; waiting: number };
}

interface Waiter { admit(): void }
interface Client { readonly id: string; running: number; readonly queue: Waiter[] }

/** Seconds a refused client is told to wait. */
const RETRY_AFTER_S = 1;

export function createAdmission(init: AdmissionInit): Admission {
  // Insertion order is the round-robin order: a client served moves to the back.
  const clients = new Map<string, Client>();
  let running = 0;
  let waiting = 0;
  const loads = () => [...clients.values()].map((c) => ({ id: c.id, running: c.running, waiting: c.queue.length }));
  const forget = (c: Client): void => { if (c.running === 0 && c.queue.length === 0) clients.delete(c.id); };
  const start = (c: Client): () => void => {
    c.running++;
    running++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      c.running--;
      running--;
      forget(c);
      pump();
    };
  };
  const pump = (): void => {
    for (;;) {
      const d = pickNext(init, { running, waiting }, loads());
      if (d.type === 'hold') return;
      const c = clients.get(d.id) as Client;
      const w = c.queue.shift() as Waiter;
      waiting--;
      clients.delete(c.id);
      clients.set(c.id, c);
      w.admit();
    }
  };
  return {
    get running() { return running; },
    get queued() { return waiting; },
    load(id) {
      const c = clients.get(id);
      return { running: c?.running ?? 0, waiting: c?.queue.length ?? 0 };
    },
    enter(id, signal) {
      if (signal?.aborted) return Promise.reject(new CancelledError('client went away'));
      const known = clients.get(id);
      const c: Client = known ?? { id, running: 0, queue: [] };
      const d = decideEntry(init, { running, waiting }, { id, running: c.running, waiting: c.queue.length }, clients.size + (known ? 0 : 1));
      if (d.type === 'refuse') {
        return Promise.reject(new RateLimitedError(d.reason === 'client'
          ? `too many requests from this client: ${c.running} running and ${c.queue.length} waiting (its share now: ${d.share} running, ${init.maxQueuePerClient} waiting)`
          : `too many requests: ${running} running and ${waiting} queued`, RETRY_AFTER_S));
      }
      if (!known) clients.set(id, c);
      if (d.type === 'run') return Promise.resolve(start(c));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          drop();
          reject(new RateLimitedError(`waited ${init.queueTimeoutMs} ms for a free slot`, RETRY_AFTER_S));
        }, init.queueTimeoutMs);
        const onAbort = () => { drop(); reject(new CancelledError('client went away')); };
        const w: Waiter = {
          admit: () => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); resolve(start(c)); },
        };
        const drop = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = c.queue.indexOf(w);
          if (i < 0) return;
          c.queue.splice(i, 1);
          waiting--;
          forget(c);
          // One client fewer may raise the others' shares.
          pump();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        c.queue.push(w);
        waiting++;
      });
    },
  };
}
