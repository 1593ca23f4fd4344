/**
 * An abortable sleep: resolves after `ms`, or rejects with CANCELLED when `signal` aborts.
 */
import { SwarmpathError } from '../shared/errors.ts';

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new SwarmpathError('CANCELLED', 'request cancelled')); return; }
    const onAbort = () => { clearTimeout(timer); reject(new SwarmpathError('CANCELLED', 'request cancelled')); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
