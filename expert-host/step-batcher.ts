/**
 * Runs one expert's calls, merging concurrent ones into one onnxruntime call. At most one batch of an
 * expert runs at a time (onnxruntime-node runs on the JS thread anyway); calls arriving meanwhile
 * queue and run together next. The flush is deferred by one event-loop turn (setImmediate), so calls
 * that arrive in the same I/O poll join the same batch at no latency cost; `maxWaitMs` optionally
 * waits longer for company when other sessions of the expert are open (batch-policy.ts decides).
 */
import { InternalError, ResourceExhaustedError, SwarmpathError } from '../shared/errors.ts';
import type { ExpertModel } from '../shared/runtime-types.ts';
import type { KvShape } from '../shared/model/kv-cache.ts';
import { assembleBatch, BatchScratch, pastLenOf, selectBatch, splitBatch, type BatchItem, type ItemResult } from './batch-assembly.ts';
import { decideFlush } from './batch-policy.ts';

/** Default bound of a batched call's padded cache (see selectBatch); --batch-kv-mb overrides it. */
export const DEFAULT_MAX_BATCH_KV_BYTES = 4 * 1024 * 1024;

export interface BatchInfo {
  expertId: string;
  /** Calls merged. */
  items: number;
  rows: number;
  T: number;
  pMax: number;
  /** Seconds onnxruntime took. */
  seconds: number;
}

export interface StepBatcherInit {
  model: ExpertModel;
  D: number;
  kv: KvShape;
  /** Most rows in one onnxruntime call (--max-batch). */
  maxRows: number;
  /** Longest wait for company, ms (0: never wait beyond the current event-loop turn). */
  maxWaitMs: number;
  /** Largest padded cache of one batched call, bytes (rows x longest prefix x bytes a position); default 4 MiB. */
  maxBatchKvBytes?: number;
  /** Most calls waiting (not running); past it `submit` rejects with RESOURCE_EXHAUSTED (--max-queue). Default: unbounded. */
  maxQueue?: number;
  /** Open sessions of this expert (to know whether company may come). */
  activeSessions: () => number;
  onBatch?: (b: BatchInfo) => void;
  clock?: () => number;
}

export interface StepBatcher {
  /** Queues one call; resolves its slice of the batched result (views into onnxruntime's output). */
  submit(item: BatchItem, kind: 'session' | 'forward'): Promise<ItemResult>;
  /** Calls queued or running. */
  queueDepth(): number;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
  /** Batch-size histogram: calls merged → batches run. */
  batchSizes(): ReadonlyMap<number, number>;
}

interface Queued {
  item: BatchItem;
  kind: 'session' | 'forward';
  at: number;
  resolve(r: ItemResult): void;
  reject(e: unknown): void;
}

/** Creates the batcher of one expert. */
export function createStepBatcher(init: StepBatcherInit): StepBatcher {
  const clock = init.clock ?? (() => performance.now());
  const queue: Queued[] = [];
  const sizes = new Map<number, number>();
  const positionBytes = init.kv.layers * 2 * init.kv.nHeads * init.kv.headDim * 4;
  const maxPadded = Math.max(1, Math.floor((init.maxBatchKvBytes ?? DEFAULT_MAX_BATCH_KV_BYTES) / positionBytes));
  const scratch = new BatchScratch();
  let running = 0;
  let runningCalls = 0;
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;
  let idleWaiters: (() => void)[] = [];

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  function flush(): void {
    scheduled = false;
    if (timer) { clearTimeout(timer); timer = undefined; }
    let sessionsQueued = 0;
    let rows = 0;
    for (const q of queue) { rows += q.item.rows; if (q.kind === 'session') sessionsQueued++; }
    const d = decideFlush({
      queued: queue.length, queuedRows: rows, running: running > 0,
      oldestWaitMs: queue.length ? clock() - queue[0].at : 0,
      idleSessions: init.activeSessions() - sessionsQueued, maxRows: init.maxRows, maxWaitMs: init.maxWaitMs,
    });
    if (d.type === 'run') void runBatch();
    else if (d.type === 'wait') timer = setTimeout(flush, Math.max(0, d.ms));
  }

  async function runBatch(): Promise<void> {
    const picked = selectBatch(queue.map((q) => ({ T: q.item.T, rows: q.item.rows, pastLen: pastLenOf(q.item) })), init.maxRows, maxPadded);
    const batch = picked.map((i) => queue[i]);
    for (let k = picked.length - 1; k >= 0; k--) queue.splice(picked[k], 1);
    running++;
    runningCalls += batch.length;
    const items = batch.map((q) => q.item);
    try {
      const a = assembleBatch(items, init.D, init.kv, scratch);
      const t0 = performance.now();
      const out = await init.model.run(a.hidden, a.past, a.mask);
      const seconds = (performance.now() - t0) / 1000;
      const results = splitBatch(items, out, init.D, init.kv);
      sizes.set(batch.length, (sizes.get(batch.length) ?? 0) + 1);
      init.onBatch?.({ expertId: init.model.entry.id, items: batch.length, rows: a.rows, T: a.T, pMax: a.pMax, seconds });
      batch.forEach((q, i) => q.resolve(results[i]));
    } catch (err) {
      const e = err instanceof SwarmpathError ? err
        : new InternalError(`expert ${init.model.entry.id} failed: ${(err as Error)?.message ?? err}`, err);
      for (const q of batch) q.reject(e);
    } finally {
      running--;
      runningCalls -= batch.length;
      if (queue.length > 0) schedule();
      else if (running === 0) { const w = idleWaiters; idleWaiters = []; for (const f of w) f(); }
    }
  }

  return {
    submit(item, kind) {
      if (queue.length >= (init.maxQueue ?? Infinity)) {
        return Promise.reject(new ResourceExhaustedError(`expert ${init.model.entry.id} is busy: ${queue.length} calls already wait (--max-queue); try another replica`));
      }
      return new Promise<ItemResult>((resolve, reject) => {
        queue.push({ item, kind, at: clock(), resolve, reject });
        schedule();
      });
    },
    queueDepth: () => queue.length + runningCalls,
    idle: () => (queue.length === 0 && running === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
    batchSizes: () => sizes,
  };
}
