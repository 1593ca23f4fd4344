/**
 * `swarmpath generate PROMPT [--url URL] [--max-tokens N] [--temperature T] [--seed S] [--stream]
 * [--api-key K] [--chat]`: a client of the router's API. Prints the generated text to stdout (as it
 * arrives with --stream) and, with --verbose, the path, hosts and usage to stderr. An API error
 * prints its message and exits 1.
 */
import { parseFlags, helpText, type FlagSpecs } from '../../shared/cli-args.ts';
import { BadConfigError } from '../../shared/errors.ts';

const USAGE = 'swarmpath generate PROMPT [--url URL] [--max-tokens N] [--temperature T] [--seed S] [--stream]';

export const FLAGS = {
  url: { kind: 'string', help: 'base URL of the router', env: 'SWARMPATH_URL', default: 'http://127.0.0.1:8080' },
  'max-tokens': { kind: 'int', help: 'new tokens at most', default: 128, min: 1 },
  temperature: { kind: 'number', help: 'sampling temperature (0 = greedy)', default: 0.8, min: 0, max: 2 },
  'top-p': { kind: 'number', help: 'nucleus sampling mass', default: 1, min: 0, max: 1 },
  seed: { kind: 'int', help: 'sampling seed (same seed, same text)' },
  stop: { kind: 'list', help: 'stop string (repeatable)' },
  stream: { kind: 'boolean', help: 'print tokens as they are generated', default: false },
  chat: { kind: 'boolean', help: 'send PROMPT as one user message to /v1/chat/completions', default: false },
  model: { kind: 'string', help: 'model name (default: the one the router serves)' },
  'api-key': { kind: 'string', help: 'API key (Authorization: Bearer)', env: 'SWARMPATH_API_KEY' },
  verbose: { kind: 'boolean', help: 'print path, hosts and usage to stderr', default: false },
  help: { kind: 'boolean', help: 'print this help', default: false },
} as const satisfies FlagSpecs;

interface Chunk {
  choices?: { text?: string; delta?: { content?: string }; message?: { content?: string }; finish_reason?: string | null }[];
  usage?: unknown;
  swarmpath?: unknown;
  error?: { message: string; code?: string };
}

export async function run(argv: string[]): Promise<number> {
  const { flags: f, args } = parseFlags(argv, FLAGS);
  if (f.help) {
    process.stdout.write(helpText(USAGE, FLAGS));
    return 0;
  }
  if (args.length !== 1) throw new BadConfigError(`give exactly one PROMPT (quote it); usage: ${USAGE}`);
  const chat = f.chat === true;
  const stream = f.stream === true;
  const body: Record<string, unknown> = {
    max_tokens: f['max-tokens'], temperature: f.temperature, top_p: f['top-p'], stream,
    ...(f.model !== undefined ? { model: f.model } : {}),
    ...(f.seed !== undefined ? { seed: f.seed } : {}),
    ...(f.stop !== undefined ? { stop: f.stop } : {}),
    ...(chat ? { messages: [{ role: 'user', content: args[0] }] } : { prompt: args[0] }),
  };
  const url = `${String(f.url).replace(/\/+$/, '')}/v1/${chat ? 'chat/completions' : 'completions'}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (f['api-key']) headers.authorization = `Bearer ${f['api-key']}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch (err) {
    process.stderr.write(`swarmpath generate: cannot reach ${url}: ${(err as Error).cause ?? (err as Error).message}\n`);
    return 1;
  }
  if (!res.ok) {
    const text = await res.text();
    let msg = text;
    try { msg = (JSON.parse(text) as Chunk).error?.message ?? text; } catch { /* not JSON */ }
    process.stderr.write(`swarmpath generate: HTTP ${res.status}: ${msg}\n`);
    return 1;
  }
  const textOf = (c: Chunk) => c.choices?.[0]?.text ?? c.choices?.[0]?.delta?.content ?? c.choices?.[0]?.message?.content ?? '';
  if (!stream) {
    const c = (await res.json()) as Chunk;
    process.stdout.write(textOf(c) + '\n');
    if (f.verbose) process.stderr.write(JSON.stringify({ usage: c.usage, swarmpath: c.swarmpath, finish_reason: c.choices?.[0]?.finish_reason }) + '\n');
    return 0;
  }
  let last: Chunk | undefined;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(part, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') continue;
      const c = JSON.parse(data) as Chunk;
      if (c.error) {
        process.stdout.write('\n');
        process.stderr.write(`swarmpath generate: ${c.error.message}\n`);
        return 1;
      }
      process.stdout.write(textOf(c));
      last = c;
    }
  }
  process.stdout.write('\n');
  if (f.verbose && last) process.stderr.write(JSON.stringify({ usage: last.usage, swarmpath: last.swarmpath, finish_reason: last.choices?.[0]?.finish_reason }) + '\n');
  return 0;
}
