/**
 * A streamed answer as server-sent events. The choices run at once and their chunks interleave, each
 * naming its `index`. Per choice: an opening chunk (chat: the role; completions with echo: the prompt),
 * one chunk per piece of text, and a finish chunk with `finish_reason` and, unless
 * `stream_options.include_usage`, that choice's `usage` (as swarmpath always sent it). With
 * include_usage, OpenAI's shape instead: `usage: null` on every chunk, then one last chunk with empty
 * `choices` and the request's `usage`. Then `data: [DONE]`. The headers go out with the first chunk,
 * so a failure before it still gets its HTTP status; one after it ends the stream with an error event
 * and is rethrown (for the log and metrics; the caller sends nothing more). A client that takes no
 * data for `writeTimeoutMs` is cut off (respond.ts SseWriter), which ends the generation.
 */
import type { ServerResponse } from 'node:http';
import type { GenerateResult, OnText } from '../generation.ts';
import type { TokenLogprob } from '../sampling/logprobs.ts';
import { runChoices } from './choices.ts';
import { chunk, extension, finishChoice, openingChoice, pieceChoice, usageOf } from './completion-bodies.ts';
import type { ResponseShape } from './completion-bodies.ts';
import { SseWriter } from './respond.ts';

export interface StreamRun {
  n: number;
  includeUsage: boolean;
  signal: AbortSignal;
  /** Runs choice `index` under `signal`, calling `onText` with its pieces. */
  generate(index: number, signal: AbortSignal, onText: OnText): Promise<GenerateResult>;
  /** Called with each piece's arrival (time to first text). */
  onText?(): void;
  /** Called with each finished choice (usage metrics). */
  onDone?(r: GenerateResult): void;
  /** Longest wait for the client to take the next event, ms (respond.ts's default when absent). */
  writeTimeoutMs?: number;
}

export async function streamChoices(res: ServerResponse, s: ResponseShape, run: StreamRun): Promise<void> {
  const sse = new SseWriter(res, run.writeTimeoutMs);
  const usageNull = run.includeUsage ? { usage: null } : {};
  const opened = new Set<number>();
  const open = async (index: number, hosts: string[], promptEntries: readonly TokenLogprob[] | undefined) => {
    if (opened.has(index)) return;
    opened.add(index);
    const choice = openingChoice(s, index, promptEntries);
    if (choice) await sse.send(chunk(s, [choice], { ...usageNull, swarmpath: extension(s, hosts) }));
  };
  try {
    const results = await runChoices(run.n, run.signal, async (index, signal) => {
      const r = await run.generate(index, signal, async (text, info) => {
        run.onText?.();
        await open(index, info.hosts, info.promptLogprobs);
        await sse.send(chunk(s, [pieceChoice(s, index, text, info.logprobs)], { ...usageNull, swarmpath: extension(s, info.hosts) }));
      });
      run.onDone?.(r);
      await open(index, r.hosts, r.promptLogprobs);
      const usage = run.includeUsage ? null : usageOf([r]);
      await sse.send(chunk(s, [finishChoice(s, index, r.finishReason)], { usage, swarmpath: extension(s, r.hosts, r.replays) }));
      return r;
    });
    if (run.includeUsage) {
      const replays = results.reduce((n, r) => n + r.replays, 0);
      await sse.send(chunk(s, [], { usage: usageOf(results), swarmpath: extension(s, results[0].hosts, replays) }));
    }
    await sse.done();
  } catch (err) {
    if (sse.started) sse.fail(err);
    throw err;
  }
}
