/**
 * Merges one-row calls of concurrent requests into one call: the router's stem and head for decode
 * steps (one token of one session each), so that 32 sessions cost one onnxruntime call per token
 * instead of 32. Calls made in the same event-loop turn run together: the flush is deferred by one
 * setImmediate, which costs a lone request nothing measurable (onnxruntime-node itself runs every
 * call from a setImmediate). A batch's failure rejects every call in it.
 */

export interface RowBatcherInit<I, O> {
  /** Runs `inputs` as one call; resolves one output per input, in order. */
  runBatch(inputs: readonly I[]): Promise<readonly O[]>;
  /** Most rows in one call (>= 1; 1 runs every call alone). */
  maxRows: number;
}

export interface RowBatcher<I, O> {
  run(input: I): Promise<O>;
  /** Batch-size histogram: rows → calls run. */
  batchSizes(): ReadonlyMap<number, number>;
}

interface Queued<I, O> {
  input: I;
  resolve(o: O): void;
  reject(e: unknown): void;
}

export function createRowBatcher<I, O>(init: RowBatcherInit<I, O>): RowBatcher<I, O> {
  if (!Number.isInteger(init.maxRows) || init.maxRows < 1) throw new RangeError(`maxRows must be a positive integer, got ${init.maxRows}`);
  let queue: Queued<I, O>[] = [];
  let scheduled = false;
  const sizes = new Map<number, number>();

  const flush = () => {
    scheduled = false;
    const all = queue;
    queue = [];
    for (let i = 0; i < all.length; i += init.maxRows) void runOne(all.slice(i, i + init.maxRows));
  };

  async function runOne(batch: Queued<I, O>[]): Promise<void> {
    sizes.set(batch.length, (sizes.get(batch.length) ?? 0) + 1);
    try {
      const out = await init.runBatch(batch.map((q) => q.input));
      if (out.length !== batch.length) throw new Error(`a batch of ${batch.length} rows gave ${out.length} outputs`);
      batch.forEach((q, i) => q.resolve(out[i]));
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  }

  return {
    run(input) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        if (!scheduled) { scheduled = true; setImmediate(flush); }
      });
    },
    batchSizes: () => sizes,
  };
}
