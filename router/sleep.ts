/**
 * Abortable waits: a sleep, and a wait on a shared promise that a caller can give up on. Both reject
 * with CANCELLED when `signal` aborts.
 */
import { CancelledError } from '../shared/errors.ts';

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new CancelledError('request cancelled')); return; }
    const onAbort = () => { clearTimeout(timer); reject(new CancelledError('request cancelled')); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `p`, or a CANCELLED rejection as soon as `signal` aborts (the shared work goes on for others). */
export function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledError('request cancelled'));
    if (signal.aborted) { onAbort(); return; }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
