/**
 * MonolithicRunner: stem + one path's experts + head in one process, each expert with its own KV
 * cache (kv-cache.ts, the host's layout, reserved at max_context). The floor the benchmarks compare against, and
 * the reference the router's distributed generation must reproduce for a seed: same sampler, same
 * rng (createRng(seed), one draw per sampled token), same stop handling.
 */
import { InvalidArgumentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Device, ExpertModel, F32, ModelPackage, Path } from '../runtime-types.ts';
import { appendKv, createKvCache, maskOf, pastOf, truncateKv } from './kv-cache.ts';
import { openExpert, openHead, openStem } from './ort.ts';
import type { HeadModel, StemModel } from './ort.ts';
import { createRng } from './rng.ts';
import { findStop, sampleToken, stopHoldback } from './sampling.ts';
import { createStreamDecoder, encode } from './tokenizer.ts';

export interface GenerateOptions {
  maxTokens: number;
  /** 0 = greedy (default). */
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: readonly string[];
  /** Called with each chunk of whole characters as it is generated; text that may begin a stop string is held back. */
  onText?: (chunk: string) => void;
}

export interface GenerateResult {
  text: string;
  /** Generated tokens (bytes), including any that formed a stop string. */
  tokens: number[];
  finishReason: 'stop' | 'length';
  promptTokens: number;
}

export interface MonolithicRunner {
  readonly path: Path;
  readonly device: Device;
  /** Tokens held in the caches (the next position). */
  readonly position: number;
  /** Runs `tokens` at the next positions; returns logits [1,T,V] for all of them. */
  forward(tokens: ArrayLike<number>): Promise<F32>;
  /** Clears the caches and runs the prompt; returns the last position's logits (length V). */
  prefill(tokens: ArrayLike<number>): Promise<Float32Array>;
  /** Appends one token; returns its logits (length V). */
  decodeStep(token: number): Promise<Float32Array>;
  /** A fresh generation from `prompt` (caches cleared first). */
  generate(prompt: string, opts: GenerateOptions): Promise<GenerateResult>;
  /** Forgets the cached positions. */
  reset(): void;
  release(): Promise<void>;
}

export interface MonolithicInit {
  pkg: ModelPackage;
  path: Path;
  device?: Device;
  log?: Logger;
  threads?: number;
}

/** Opens stem, the path's experts and head, and returns a runner over them. */
export async function createMonolithicRunner(init: MonolithicInit): Promise<MonolithicRunner> {
  const { pkg, path } = init;
  const o = { device: init.device, log: init.log, threads: init.threads };
  const [stem, head, ...experts] = await Promise.all([openStem(pkg, o), openHead(pkg, o), ...path.map((id) => openExpert(pkg, id, o))]) as
    [StemModel, HeadModel, ...ExpertModel[]];
  return monolithicRunner(pkg, path, stem, experts, head);
}

/** A runner over already opened models (eval uses it with the dense baseline's files). */
export function monolithicRunner(pkg: ModelPackage, path: Path, stem: StemModel, experts: ExpertModel[], head: HeadModel): MonolithicRunner {
  const { d_model: D, n_heads: H, head_dim: Dh, max_context: maxLen, vocab_size: V } = pkg.manifest.dims;
  const caches = experts.map((e) => createKvCache({ layers: e.entry.layers, nHeads: H, headDim: Dh }, maxLen));
  let pos = 0;

  async function forward(tokens: ArrayLike<number>): Promise<F32> {
    const T = tokens.length;
    if (T === 0) throw new InvalidArgumentError('no tokens to run');
    if (pos + T > maxLen) throw new InvalidArgumentError(`sequence of ${pos + T} tokens exceeds max_context ${maxLen}`);
    const ids = new BigInt64Array(T);
    const positions = new BigInt64Array(T);
    for (let i = 0; i < T; i++) { ids[i] = BigInt(tokens[i]); positions[i] = BigInt(pos + i); }
    let hidden = await stem.run(ids, positions, 1, T);
    for (let k = 0; k < experts.length; k++) {
      const c = caches[k];
      truncateKv(c, pos);
      const out = await experts[k].run(hidden, pastOf(c), maskOf(c, T));
      appendKv(c, out.newKv.data, T);
      hidden = out.hiddenOut;
    }
    pos += T;
    const logits = await head.run(hidden.dims.length === 3 ? hidden : { data: hidden.data, dims: [1, T, D] });
    return logits;
  }

  const lastRow = (l: F32) => l.data.slice(l.data.length - V);

  const runner: MonolithicRunner = {
    path,
    device: stem.device,
    get position() { return pos; },
    forward,
    reset() { pos = 0; },
    async prefill(tokens) { pos = 0; return lastRow(await forward(tokens)); },
    async decodeStep(token) { return lastRow(await forward([token])); },
    async generate(prompt, opts) {
      const promptTokens = encode(prompt);
      if (promptTokens.length === 0) throw new InvalidArgumentError('prompt must not be empty');
      let logits = await runner.prefill(promptTokens);
      const rng = createRng(opts.seed ?? 0);
      const sampling = { temperature: opts.temperature ?? 0, topP: opts.topP ?? 1 };
      const dec = createStreamDecoder();
      const stops = opts.stop ?? [];
      const tokens: number[] = [];
      let text = '';
      let emitted = 0;
      const emit = (upTo: number) => {
        if (upTo > emitted && opts.onText) opts.onText(text.slice(emitted, upTo));
        emitted = Math.max(emitted, upTo);
      };
      for (;;) {
        const tok = sampleToken(logits, sampling, rng);
        tokens.push(tok);
        text += dec.push(tok);
        const stop = stops.length > 0 ? findStop(text, stops) : { type: 'none' as const };
        if (stop.type === 'stop') {
          emit(stop.at);
          return { text: text.slice(0, stop.at), tokens, finishReason: 'stop', promptTokens: promptTokens.length };
        }
        emit(text.length - stopHoldback(text, stops));
        if (tokens.length >= opts.maxTokens || pos >= maxLen) break;
        logits = await runner.decodeStep(tok);
      }
      text += dec.flush();
      emit(text.length);
      return { text, tokens, finishReason: 'length', promptTokens: promptTokens.length };
    },
    async release() { await Promise.all([stem.release(), head.release(), ...experts.map((e) => e.release())]); },
  };
  return runner;
}
