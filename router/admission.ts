/**
 * Admission control of generation requests: at most `maxConcurrent` run at once, at most `maxQueue`
 * wait (FIFO) for at most `queueTimeoutMs`; anything beyond is refused at once with 429.
 */
import { CancelledError } from '../shared/errors.ts';
import { RateLimitedError } from './http/errors.ts';

export interface AdmissionInit {
  maxConcurrent: number;
  maxQueue: number;
  queueTimeoutMs: number;
}

export interface Admission {
  /** Resolves a release function once admitted; throws RateLimitedError or CANCELLED. */
  enter(signal?: AbortSignal): Promise<() => void>;
  readonly running: number;
  readonly queued: number;
}

interface Waiter { admit(): void }

export function createAdmission(init: AdmissionInit): Admission {
  let running = 0;
  const queue: Waiter[] = [];
  const release = (): void => {
    running--;
    const next = queue.shift();
    if (next) { running++; next.admit(); }
  };
  const once = (): (() => void) => {
    let done = false;
    return () => { if (!done) { done = true; release(); } };
  };
  return {
    get running() { return running; },
    get queued() { return queue.length; },
    enter(signal) {
      if (running < init.maxConcurrent) { running++; return Promise.resolve(once()); }
      if (queue.length >= init.maxQueue) {
        return Promise.reject(new RateLimitedError(`too many requests: ${running} running and ${queue.length} queued`));
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { drop(); reject(new RateLimitedError(`waited ${init.queueTimeoutMs} ms for a free slot`)); }, init.queueTimeoutMs);
        const onAbort = () => { drop(); reject(new CancelledError('client went away')); };
        const w: Waiter = {
          admit: () => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); resolve(once()); },
        };
        const drop = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = queue.indexOf(w);
          if (i >= 0) queue.splice(i, 1);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        queue.push(w);
      });
    },
  };
}
