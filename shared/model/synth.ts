/**
 * `swarmpath synth`: a complete `swarmpath-model/1` package with random weights, written in pure
 * TypeScript (graphs from synth-graphs.ts, probes computed by running each expert in onnxruntime).
 * Optionally a held-out file (synthetic domains) and a dense baseline, so that eval runs on it.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from '../errors.ts';
import type { ExpertEntry, FileRef, Manifest } from '../manifest.ts';
import { MODEL_FORMAT } from '../manifest.ts';
import { silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { featurize } from './featurizer.ts';
import { validateManifest } from './manifest-schema.ts';
import { expertModel, createSession } from './ort.ts';
import { computeFingerprint } from './probe.ts';
import { createRng } from './rng.ts';
import type { Rng } from './rng.ts';
import { expertGraph, headGraph, stemGraph } from './synth-graphs.ts';
import type { GraphDims } from './synth-graphs.ts';
import { SYNTH_DOMAINS, synthDoc } from './synth-text.ts';

export interface SynthOptions {
  out: string;
  dModel?: number;
  heads?: number;
  /** Blocks per expert. */
  layers?: number;
  /** Experts per level, e.g. [2, 2]. */
  levels?: number[];
  vocab?: number;
  maxContext?: number;
  seed?: number;
  name?: string;
  /** Write `eval/heldout.jsonl` with this many documents (0: no eval section). */
  heldout?: number;
  /** Bytes per held-out document (default 256). */
  heldoutBytes?: number;
  /** Also write a dense baseline (stem, blocks with layers * levels, head) into the eval section. */
  dense?: boolean;
  /** Router clusters (= paths), at least the largest level (default). */
  clusters?: number;
  buckets?: number;
  prefixBytes?: number;
  log?: Logger;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function put(root: string, file: string, bytes: Uint8Array): Promise<FileRef> {
  await mkdir(dirname(join(root, file)), { recursive: true });
  await writeFile(join(root, file), bytes);
  return { file, sha256: sha256(bytes), bytes: bytes.length };
}

/** Derives an independent weight stream per file. */
const streamFor = (seed: number, k: number): Rng => createRng((Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(k + 1, 0x85ebca6b)) >>> 0);

function checkOptions(o: Required<Omit<SynthOptions, 'log'>>): void {
  if (o.dModel % o.heads !== 0) throw new InvalidArgumentError(`--d-model ${o.dModel} must be a multiple of --heads ${o.heads}`);
  if (o.levels.length === 0 || o.levels.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new InvalidArgumentError(`--levels must be positive integers, got ${o.levels.join(',')}`);
  }
  if (o.clusters !== 0 && o.clusters < Math.max(...o.levels)) {
    throw new InvalidArgumentError(`--clusters ${o.clusters} must be at least the largest level (${Math.max(...o.levels)}) so every expert is on a path`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(o.name)) throw new InvalidArgumentError(`--name must match [A-Za-z0-9._-]+, got ${JSON.stringify(o.name)}`);
}

/** Writes the package to `opts.out` and returns its (validated) manifest. */
export async function synthPackage(opts: SynthOptions): Promise<Manifest> {
  const o = {
    out: opts.out, dModel: opts.dModel ?? 64, heads: opts.heads ?? 4, layers: opts.layers ?? 1,
    levels: opts.levels ?? [2, 2], vocab: opts.vocab ?? 256, maxContext: opts.maxContext ?? 512,
    seed: opts.seed ?? 1, name: opts.name ?? 'synth', heldout: opts.heldout ?? 0,
    heldoutBytes: opts.heldoutBytes ?? 256, dense: opts.dense ?? false, buckets: opts.buckets ?? 512,
    prefixBytes: opts.prefixBytes ?? 64, clusters: opts.clusters ?? 0,
  };
  checkOptions(o);
  const log = opts.log ?? silentLogger;
  const dims: GraphDims = { d: o.dModel, h: o.heads, dh: o.dModel / o.heads, vocab: o.vocab, maxContext: o.maxContext };
  const manifestDims = { d_model: dims.d, n_heads: dims.h, head_dim: dims.dh, vocab_size: o.vocab, max_context: o.maxContext };
  await mkdir(o.out, { recursive: true });
  const stem = await put(o.out, 'stem.onnx', stemGraph(dims, streamFor(o.seed, 0)));
  const head = await put(o.out, 'head.onnx', headGraph(dims, streamFor(o.seed, 1)));
  let index = 0;
  const levels = [];
  for (let l = 0; l < o.levels.length; l++) {
    const experts: ExpertEntry[] = [];
    for (let k = 0; k < o.levels[l]; k++, index++) {
      const id = `L${l}.${k}`;
      const bytes = expertGraph(dims, o.layers, streamFor(o.seed, 10 + index), id);
      const ref = await put(o.out, `experts/${id}.onnx`, bytes);
      const probeSeed = 1000 + index;
      const entry: ExpertEntry = { id, ...ref, layers: o.layers, probe: { seed: probeSeed, tokens: 4, fingerprint: [] } };
      const model = expertModel(entry, await createSession(bytes), manifestDims);
      entry.probe.fingerprint = await computeFingerprint(model, probeSeed, 4, manifestDims);
      await model.release();
      experts.push(entry);
      log.debug('expert written', { id, bytes: ref.bytes });
    }
    levels.push({ name: `L${l}`, experts });
  }
  const featurizer = { type: 'hashed-ngrams/1' as const, prefix_bytes: o.prefixBytes, orders: [1, 2, 3], buckets: o.buckets };
  const maxK = Math.max(...o.levels);
  const C = o.clusters || maxK;
  const rng = createRng(o.seed ^ 0x5eed);
  const centroids = Array.from({ length: C }, (_, c) => domainCentroid(featurizer, SYNTH_DOMAINS[c % SYNTH_DOMAINS.length], rng));
  // Clusters 0..maxK-1 walk the diagonal (every expert on a path); later ones shift level l by l * round.
  const paths = Array.from({ length: C }, (_, c) => o.levels.map((K, l) => `L${l}.${(c + l * Math.floor(c / maxK)) % K}`));
  const manifest: Record<string, unknown> = {
    format: MODEL_FORMAT, name: o.name,
    description: `random-weight synthetic package (swarmpath synth, seed ${o.seed})`,
    tokenizer: { type: 'bytes/1', vocab_size: o.vocab }, dims: manifestDims, stem, head, levels,
    router: { featurizer, centroids, paths },
    training: { synth: { seed: o.seed, layers_per_expert: o.layers, levels: o.levels } },
  };
  if (o.heldout > 0) manifest.eval = await writeEval(o, dims, rng);
  const valid = validateManifest(JSON.parse(JSON.stringify(manifest)));
  await writeFile(join(o.out, 'manifest.json'), JSON.stringify(valid, null, 1) + '\n');
  return valid;
}

/** Mean features of a few sample documents of `domain` plus a little noise (so clusters differ). */
function domainCentroid(spec: Manifest['router']['featurizer'], domain: string, rng: Rng): number[] {
  const acc = new Float64Array(spec.buckets);
  for (let s = 0; s < 8; s++) {
    const f = featurize(spec, new TextEncoder().encode(synthDoc(domain, spec.prefix_bytes, rng)));
    for (let i = 0; i < f.length; i++) acc[i] += f[i] / 8;
  }
  return Array.from(acc, (v) => Math.round((v + Math.abs(rng.normal()) * 1e-3) * 1e6) / 1e6);
}

async function writeEval(o: { out: string; heldout: number; heldoutBytes: number; dense: boolean; layers: number; levels: number[]; seed: number },
  dims: GraphDims, rng: Rng): Promise<Manifest['eval']> {
  const lines: string[] = [];
  for (let i = 0; i < o.heldout; i++) {
    const domain = SYNTH_DOMAINS[i % SYNTH_DOMAINS.length];
    lines.push(JSON.stringify({ domain, text: synthDoc(domain, o.heldoutBytes, rng) }));
  }
  const heldout = await put(o.out, 'eval/heldout.jsonl', new TextEncoder().encode(lines.join('\n') + '\n'));
  if (!o.dense) return { heldout };
  const layers = o.layers * o.levels.length;
  return {
    heldout,
    dense: {
      stem: await put(o.out, 'eval/dense-stem.onnx', stemGraph(dims, streamFor(o.seed, 2))),
      blocks: await put(o.out, 'eval/dense-blocks.onnx', expertGraph(dims, layers, streamFor(o.seed, 3), 'dense')),
      head: await put(o.out, 'eval/dense-head.onnx', headGraph(dims, streamFor(o.seed, 4))),
      layers,
    },
  };
}
