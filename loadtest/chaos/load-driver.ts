/**
 * A fixed-rate (open model) load of seeded completions against a swarmpath API, keeping for each
 * request what the chaos suite needs: when it ran, how it ended (status, Retry-After), and the
 * generated text, so that a run disturbed by kills can be compared with an undisturbed replay of
 * the same requests. Arrivals do not wait for answers: a slow swarm gets the same load.
 * Exported for the bench's failover scenario too.
 */

/** One request of a run. Times are ms from the run's start (performance.now based). */
export interface ChaosSample {
  index: number;
  prompt: string;
  seed: number;
  stream: boolean;
  startMs: number;
  endMs: number;
  /** HTTP status, 0 when no answer came (connection error, timeout). */
  status: number;
  ok: boolean;
  /** Seconds of a 503/429 Retry-After header, when present. */
  retryAfterS?: number;
  text?: string;
  /** Hosts that served it (the response's `swarmpath.hosts`). */
  hosts?: string[];
  /** Stage sessions the router moved to another replica by replaying them (`swarmpath.replays`). */
  replays?: number;
  error?: string;
}

/** One request's parameters. */
export interface CompletionParams {
  prompt: string;
  seed: number;
  maxTokens: number;
  temperature: number;
  /** Server-sent events; the text is the concatenation of the chunks (a replay must not repeat any). */
  stream?: boolean;
}

export interface FixedRateInit {
  baseUrl: string;
  /** Requests per second. */
  rate: number;
  durationMs: number;
  /** Prompts, used round-robin; request i has seed `seedBase + i`. */
  prompts: readonly string[];
  maxTokens: number;
  temperature?: number;
  seedBase?: number;
  /** Every `streamEvery`-th request streams (default 3; 0: none). */
  streamEvery?: number;
  /** Per-request deadline, ms (default 60000). */
  requestTimeoutMs?: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Called once with the performance.now() that sample times are relative to. */
  onStart?(t0: number): void;
  onSample?(s: ChaosSample): void;
}

/** The parameters of request `i` of a run. */
export function requestParams(init: Pick<FixedRateInit, 'prompts' | 'maxTokens' | 'temperature' | 'seedBase' | 'streamEvery'>, i: number): CompletionParams {
  const every = init.streamEvery ?? 3;
  return {
    prompt: init.prompts[i % init.prompts.length], seed: (init.seedBase ?? 1) + i, maxTokens: init.maxTokens,
    temperature: init.temperature ?? 0.8, stream: every > 0 && i % every === every - 1,
  };
}

/** Sends one completion; never throws (a failure is a sample with ok false). */
export async function completion(baseUrl: string, p: CompletionParams, o: { timeoutMs?: number; headers?: Record<string, string>; signal?: AbortSignal } = {}):
  Promise<Pick<ChaosSample, 'status' | 'ok' | 'retryAfterS' | 'text' | 'hosts' | 'replays' | 'error'>> {
  const signals = [AbortSignal.timeout(o.timeoutMs ?? 60_000), ...(o.signal ? [o.signal] : [])];
  try {
    const res = await fetch(`${baseUrl}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...o.headers },
      body: JSON.stringify({ prompt: p.prompt, max_tokens: p.maxTokens, temperature: p.temperature, seed: p.seed, stream: p.stream ?? false }),
      signal: AbortSignal.any(signals),
    });
    const ra = res.headers.get('retry-after');
    const retryAfterS = ra !== null && Number.isFinite(Number(ra)) ? Number(ra) : undefined;
    const body = await res.text();
    if (!res.ok) return { status: res.status, ok: false, retryAfterS, error: body.slice(0, 300) };
    if (p.stream) return { status: res.status, ...parseSse(body) };
    const json = JSON.parse(body) as { choices?: { text?: unknown }[]; swarmpath?: { hosts?: string[]; replays?: number } };
    const text = json.choices?.[0]?.text;
    if (typeof text !== 'string') return { status: res.status, ok: false, error: 'no choices[0].text' };
    return { status: res.status, ok: true, text, hosts: json.swarmpath?.hosts, replays: json.swarmpath?.replays };
  } catch (err) {
    return { status: 0, ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** The text, hosts and replays of a completed SSE body; not ok without [DONE] or with an error event. */
export function parseSse(body: string): Pick<ChaosSample, 'ok' | 'text' | 'hosts' | 'replays' | 'error'> {
  let text = '';
  let done = false;
  let last: { hosts?: string[]; replays?: number } | undefined;
  for (const block of body.split('\n\n')) {
    const line = block.split('\n').find((l) => l.startsWith('data: '));
    if (!line) continue;
    const data = line.slice(6);
    if (data === '[DONE]') { done = true; continue; }
    const ev = JSON.parse(data) as { error?: { message?: string }; choices?: { text?: string }[]; swarmpath?: { hosts?: string[]; replays?: number } };
    if (ev.error) return { ok: false, error: `stream error: ${ev.error.message ?? ''}` };
    text += ev.choices?.[0]?.text ?? '';
    if (ev.swarmpath) last = ev.swarmpath;
  }
  if (!done) return { ok: false, error: 'stream ended without [DONE]' };
  return { ok: true, text, hosts: last?.hosts, replays: last?.replays };
}

/** Runs the load to the end; resolves every sample (sorted by index) once all requests ended. */
export async function runFixedRate(init: FixedRateInit): Promise<{ samples: ChaosSample[]; t0: number }> {
  const samples: ChaosSample[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  init.onStart?.(t0);
  const n = Math.floor((init.durationMs / 1000) * init.rate);
  for (let i = 0; i < n; i++) {
    if (init.signal?.aborted) break;
    const at = (i * 1000) / init.rate;
    for (let wait = at - (performance.now() - t0); wait > 0; wait = at - (performance.now() - t0)) {
      await new Promise((r) => setTimeout(r, Math.max(1, wait)));
    }
    const p = requestParams(init, i);
    const startMs = performance.now() - t0;
    pending.push(completion(init.baseUrl, p, { timeoutMs: init.requestTimeoutMs, headers: init.headers, signal: init.signal }).then((r) => {
      const s: ChaosSample = { index: i, prompt: p.prompt, seed: p.seed, stream: p.stream ?? false, startMs, endMs: performance.now() - t0, ...r };
      samples.push(s);
      init.onSample?.(s);
    }));
  }
  await Promise.all(pending);
  samples.sort((a, b) => a.index - b.index);
  return { samples, t0 };
}
