/**
 * The real RouterRuntime over shared/model: the package's tokenizer (`bytes/1`), stem and head in
 * onnxruntime-node, the manifest's path choice, and the same sampler and seeded rng as the
 * MonolithicRunner (createRng(seed), one draw per sampled token), so that a seeded distributed
 * generation reproduces the monolithic one.
 */
import type { Device, F32, ModelPackage } from '../shared/runtime-types.ts';
import type { Logger } from '../shared/log.ts';
import { openHead, openStem } from '../shared/model/ort.ts';
import { choosePath } from '../shared/model/path-choice.ts';
import { createRng } from '../shared/model/rng.ts';
import { sampleToken } from '../shared/model/sampling.ts';
import { createStreamDecoder, encode } from '../shared/model/tokenizer.ts';
import type { RouterRuntime } from './runtime.ts';

export interface ModelRuntimeInit {
  pkg: ModelPackage;
  device?: Device;
  threads?: number;
  log?: Logger;
}

/** Opens stem and head (verifying their files) and returns the runtime. */
export async function openModelRuntime(init: ModelRuntimeInit): Promise<RouterRuntime> {
  const { pkg } = init;
  const o = { device: init.device, threads: init.threads, log: init.log };
  const [stem, head] = await Promise.all([openStem(pkg, o), openHead(pkg, o)]);
  const V = pkg.manifest.dims.vocab_size;
  return {
    manifest: pkg.manifest,
    encode,
    route(tokens) {
      const c = choosePath(pkg.manifest.router, tokens);
      return { path: c.path, cluster: c.cluster, distances: c.distances };
    },
    async embed(tokens, position): Promise<F32> {
      const T = tokens.length;
      const ids = new BigInt64Array(T);
      const positions = new BigInt64Array(T);
      for (let i = 0; i < T; i++) { ids[i] = BigInt(tokens[i]); positions[i] = BigInt(position + i); }
      return stem.run(ids, positions, 1, T);
    },
    async lastLogits(hidden) {
      // The head runs on every position, as the MonolithicRunner does, so that numbers match exactly.
      const logits = await head.run(hidden);
      return logits.data.slice(logits.data.length - V);
    },
    sampler(seed, params) {
      const rng = createRng(seed);
      const opts = { temperature: params.temperature, topP: params.topP };
      return (logits) => sampleToken(logits, opts, rng);
    },
    decoder() {
      const d = createStreamDecoder();
      return { push: (t) => d.push(t), end: () => d.flush() };
    },
    async release() {
      await Promise.all([stem.release(), head.release()]);
    },
  };
}
