/**
 * One request of the load harness: POST /v1/completions (plain or streamed), timed, with its
 * outcome: status, tokens, replays, and for streams the time to the first event carrying text.
 */
import type { LoadInit } from './load-harness.ts';

/** One request as the harness saw it. Times are ms from the start of the run. */
export interface RequestSample {
  index: number;
  stream: boolean;
  startMs: number;
  endMs: number;
  /** HTTP status, 0 when no answer came (connection error, timeout). */
  status: number;
  /** 2xx and, for streams, ended with [DONE] without an error event. */
  ok: boolean;
  /** 429, or 503 with Retry-After: the API shedding load. */
  shed: boolean;
  /** Streams: ms from start to the first event carrying text. */
  ttftMs?: number;
  /** Completion tokens (usage, or text events of a stream). */
  tokens: number;
  /** Stage sessions the router moved to another replica for this request (`swarmpath.replays`). */
  replays: number;
  error?: string;
}

/** Deterministic request mix: request i streams when the golden-ratio sequence falls below the share. */
export function isStream(i: number, share: number): boolean {
  return ((i * 0.6180339887498949) % 1) < share;
}

/** Sends request `i` of a run that started at `t0` (performance.now()); never throws. */
export async function oneRequest(base: string, init: LoadInit, i: number, t0: number): Promise<RequestSample> {
  const stream = isStream(i, init.streamShare);
  const startMs = performance.now() - t0;
  const sample: RequestSample = { index: i, stream, startMs, endMs: startMs, status: 0, ok: false, shed: false, tokens: 0, replays: 0 };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.apiKey) headers.authorization = `Bearer ${init.apiKey}`;
  const body = JSON.stringify({
    ...(init.model ? { model: init.model } : {}), prompt: init.prompts[i % init.prompts.length],
    max_tokens: init.maxTokens, temperature: 0.8, seed: i, stream,
  });
  const signals = [AbortSignal.timeout(init.requestTimeoutMs ?? 60000), ...(init.signal ? [init.signal] : [])];
  try {
    const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers, body, signal: AbortSignal.any(signals) });
    sample.status = res.status;
    sample.shed = res.status === 429 || (res.status === 503 && res.headers.has('retry-after'));
    if (!res.ok) {
      sample.error = (await res.text()).slice(0, 200);
    } else if (stream) {
      await readStream(res, sample, t0);
    } else {
      const json = await res.json() as { choices?: { text?: unknown }[]; usage?: { completion_tokens?: number }; swarmpath?: { replays?: number } };
      sample.tokens = Number(json.usage?.completion_tokens ?? 0);
      sample.replays = Number(json.swarmpath?.replays ?? 0);
      sample.ok = typeof json.choices?.[0]?.text === 'string';
      if (!sample.ok) sample.error = 'no choices[0].text';
    }
  } catch (err) {
    sample.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  sample.endMs = performance.now() - t0;
  return sample;
}

/**
 * Reads an SSE body: TTFT at the first event with text, ok when it ends with [DONE] and no error
 * event; tokens from the final event's `usage` (else one per text event).
 */
async function readStream(res: Response, sample: RequestSample, t0: number): Promise<void> {
  const decoder = new TextDecoder();
  let buf = '';
  let done = false, failed = false;
  let textEvents = 0;
  let usageTokens: number | undefined;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') { done = true; continue; }
        let json: { error?: unknown; choices?: { text?: string; delta?: { content?: string } }[]; usage?: { completion_tokens?: number }; swarmpath?: { replays?: number } };
        try { json = JSON.parse(data); } catch { failed = true; continue; }
        if (json.error) { failed = true; sample.error = JSON.stringify(json.error).slice(0, 200); continue; }
        const text = json.choices?.[0]?.text ?? json.choices?.[0]?.delta?.content ?? '';
        if (text.length > 0) {
          textEvents++;
          sample.ttftMs ??= performance.now() - t0 - sample.startMs;
        }
        if (json.usage?.completion_tokens !== undefined) usageTokens = Number(json.usage.completion_tokens);
        if (json.swarmpath?.replays !== undefined) sample.replays = Number(json.swarmpath.replays);
      }
    }
  }
  sample.ok = done && !failed;
  sample.tokens = usageTokens ?? textEvents;
  if (!done && !failed) sample.error = 'stream ended without [DONE]';
}

