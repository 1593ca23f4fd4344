/**
 * What the router needs of the local model (tokenizer, stem, head, path choice, sampling): a narrow
 * interface, so that the generation loop is tested with a toy runtime and run on the real one
 * (router/model-runtime.ts adapts shared/model). Types only.
 */
import type { Manifest } from '../shared/manifest.ts';
import type { F32 } from '../shared/runtime-types.ts';

/** The path chosen for a prompt (POST /v1/route). */
export interface RouteDecision {
  path: readonly string[];
  cluster: number;
  distances: number[];
}

/** Sampling parameters of one request (validated: temperature >= 0, 0 < topP <= 1). */
export interface SamplingParams {
  temperature: number;
  topP: number;
}

/** Turns generated tokens back into text, holding back incomplete UTF-8 sequences. */
export interface TextDecoder {
  /** Appends one token; returns the text completed by it ('' while a character is incomplete). */
  push(token: number): string;
  /** Ends the stream; returns what was held back (replacement characters for a partial sequence). */
  end(): string;
}

export interface RouterRuntime {
  readonly manifest: Manifest;
  /** Prompt text → tokens. */
  encode(text: string): Uint8Array;
  /** Chooses the path of a prompt from its tokens (pure, microseconds). */
  route(tokens: Uint8Array): RouteDecision;
  /** Token ids at absolute positions `position…` → hidden [1,T,D]. */
  embed(tokens: ArrayLike<number>, position: number): Promise<F32>;
  /** Hidden [1,T,D] → the logits of its last position [V]. */
  lastLogits(hidden: F32): Promise<Float32Array>;
  /** A sampler for one request: the same seed and logits give the same tokens. */
  sampler(seed: number, params: SamplingParams): (logits: Float32Array) => number;
  /** A fresh incremental decoder. */
  decoder(): TextDecoder;
  release(): Promise<void>;
}
