/**
 * The model's quality table (SPEC.md section 5): bits per byte of held-out documents after the
 * routing prefix, on the routed path, every path (random = mean, oracle = best), and the dense
 * baseline. Level-0 outputs (and any shared path prefix) are computed once per document.
 * `reroute_bpb` scores each document with the path chosen again every N tokens (DiPaCo re-routing,
 * the router's `--reroute-every` rule: path-choice.ts `rerouteSegments`); each stretch of N tokens is
 * scored on its path run over the whole document, as the router's re-prefilled stages compute it.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BadPackageError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import type { ExpertModel, F32, ModelPackage } from '../runtime-types.ts';
import { sequenceBits } from './bits.ts';
import { emptyPast } from './kv-cache.ts';
import { openDenseBlocks, openExpert, openHead, openStem } from './ort.ts';
import type { HeadModel, StemModel } from './ort.ts';
import { verifyFile } from './package.ts';
import { choosePath, rerouteSegments } from './path-choice.ts';
import { encode } from './tokenizer.ts';

export interface HeldoutDoc { domain: string; text: string }

/**
 * Per-document result: scored bytes, bits on each path (router order), routed cluster, dense bits,
 * bits with re-routing and how many times re-routing changed the path.
 */
export interface DocScore {
  domain: string; bytes: number; pathBits: number[]; cluster: number; denseBits?: number;
  rerouteBits: number; pathChanges: number;
}

export interface BpbTable {
  docs: number;
  heldout_bytes: number;
  routed_bpb: number;
  /** Routing again every `reroute_every` tokens (EvalReport). */
  reroute_bpb: number;
  random_path_bpb: number;
  oracle_path_bpb: number;
  dense_bpb: number | null;
}

export interface EvalReport extends BpbTable {
  model: string;
  prefix_bytes: number;
  /** N of `reroute_bpb`: the path is chosen again after every N scored tokens. */
  reroute_every: number;
  /** Documents whose path changed at least once under re-routing. */
  rerouted_docs: number;
  /** Path changes under re-routing, over all documents. */
  path_changes: number;
  /** The router's paths; index = cluster. */
  paths: string[][];
  /** bpb of every document on path i. */
  path_bpb: number[];
  per_domain: Record<string, BpbTable>;
  /** Share of a domain's documents the router sends to each cluster (keys: cluster index). */
  routed_path_share_by_domain: Record<string, Record<string, number>>;
  seconds: number;
}

/** Reads and verifies `eval.heldout` (JSON lines `{"domain", "text"}`). */
export async function readHeldout(pkg: ModelPackage): Promise<HeldoutDoc[]> {
  const ref = pkg.manifest.eval?.heldout;
  if (!ref) throw new BadPackageError(`package ${pkg.manifest.name} has no eval.heldout`);
  const text = await readFile(await verifyFile(pkg, ref), 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((line, i) => {
    let d: unknown;
    try { d = JSON.parse(line); } catch { throw new BadPackageError(`${ref.file} line ${i + 1} is not JSON`); }
    const o = d as Partial<HeldoutDoc>;
    if (typeof o.text !== 'string' || typeof o.domain !== 'string') throw new BadPackageError(`${ref.file} line ${i + 1} needs string "domain" and "text"`);
    return { domain: o.domain, text: o.text };
  });
}

export interface Models { stem: StemModel; head: HeadModel; experts: Map<string, ExpertModel>; dense?: { stem: StemModel; blocks: ExpertModel; head: HeadModel } }

async function openAll(pkg: ModelPackage, threads: number): Promise<Models> {
  const o = { threads };
  const ids = pkg.manifest.levels.flatMap((l) => l.experts.map((e) => e.id));
  const experts = new Map(await Promise.all(ids.map(async (id) => [id, await openExpert(pkg, id, o)] as const)));
  const m: Models = { stem: await openStem(pkg, o), head: await openHead(pkg, o), experts };
  const dense = pkg.manifest.eval?.dense;
  if (dense) m.dense = { stem: await openStem(pkg, o, dense.stem), blocks: await openDenseBlocks(pkg, o), head: await openHead(pkg, o, dense.head) };
  return m;
}

async function releaseAll(m: Models): Promise<void> {
  await Promise.all([m.stem.release(), m.head.release(), ...[...m.experts.values()].map((e) => e.release())]);
  if (m.dense) await Promise.all([m.dense.stem.release(), m.dense.blocks.release(), m.dense.head.release()]);
}

function runExpert(e: ExpertModel, hidden: F32): Promise<F32> {
  const T = hidden.dims[1];
  return e.run(hidden, emptyPast(e.entry.layers, 1), { data: new Float32Array(T).fill(1), dims: [1, T] }).then((r) => r.hiddenOut);
}

/** Scores one document on every path (sharing path prefixes), with re-routing every `rerouteEvery` tokens, and on the dense model. */
export async function scoreDoc(pkg: ModelPackage, m: Models, doc: HeldoutDoc, rerouteEvery = 64): Promise<DocScore> {
  const { dims, router } = pkg.manifest;
  const bytes = encode(doc.text);
  const tokens = bytes.length > dims.max_context ? bytes.subarray(0, dims.max_context) : bytes;
  const from = router.featurizer.prefix_bytes;
  const scored = Math.max(0, tokens.length - from);
  const cluster = choosePath(router, bytes).cluster;
  if (scored === 0) {
    return { domain: doc.domain, bytes: 0, pathBits: router.paths.map(() => 0), cluster, denseBits: m.dense ? 0 : undefined, rerouteBits: 0, pathChanges: 0 };
  }
  const segments = rerouteSegments(router, tokens, from, rerouteEvery);
  const segmentBits = segments.map(() => 0);
  const T = tokens.length;
  const ids = BigInt64Array.from(tokens, (b) => BigInt(b));
  const positions = BigInt64Array.from({ length: T }, (_, i) => BigInt(i));
  const memo = new Map<string, Promise<F32>>();
  memo.set('', m.stem.run(ids, positions, 1, T));
  const prefixOut = (path: readonly string[], n: number): Promise<F32> => {
    const key = path.slice(0, n).join('>');
    let p = memo.get(key);
    if (!p) {
      p = prefixOut(path, n - 1).then((h) => runExpert(m.experts.get(path[n - 1])!, h));
      memo.set(key, p);
    }
    return p;
  };
  const pathBits: number[] = [];
  for (const [c, path] of router.paths.entries()) {
    const logits = await m.head.run(await prefixOut(path, path.length));
    pathBits.push(sequenceBits(logits.data, dims.vocab_size, tokens, from));
    // Each stretch on its own path: tokens [start, end) predicted by that path over the whole prefix.
    segments.forEach((g, i) => {
      if (g.cluster === c) segmentBits[i] = sequenceBits(logits.data, dims.vocab_size, tokens.subarray(0, g.end), g.start);
    });
  }
  const rerouteBits = segmentBits.reduce((a, b) => a + b, 0);
  const pathOf = (i: number) => router.paths[segments[i].cluster].join('>');
  const pathChanges = segments.filter((_, i) => i > 0 && pathOf(i) !== pathOf(i - 1)).length;
  let denseBits: number | undefined;
  if (m.dense) {
    const h = await runExpert(m.dense.blocks, await m.dense.stem.run(ids, positions, 1, T));
    denseBits = sequenceBits((await m.dense.head.run(h)).data, dims.vocab_size, tokens, from);
  }
  return { domain: doc.domain, bytes: scored, pathBits, cluster, denseBits, rerouteBits, pathChanges };
}

/** Aggregates document scores into a bpb table. */
export function tabulate(scores: readonly DocScore[]): BpbTable {
  let bytes = 0, routed = 0, reroute = 0, random = 0, oracle = 0, dense = 0, hasDense = scores.length > 0;
  for (const s of scores) {
    bytes += s.bytes;
    routed += s.pathBits[s.cluster];
    reroute += s.rerouteBits;
    random += s.pathBits.reduce((a, b) => a + b, 0) / s.pathBits.length;
    oracle += Math.min(...s.pathBits);
    if (s.denseBits === undefined) hasDense = false; else dense += s.denseBits;
  }
  const per = (bits: number) => (bytes > 0 ? bits / bytes : NaN);
  return { docs: scores.length, heldout_bytes: bytes, routed_bpb: per(routed), reroute_bpb: per(reroute), random_path_bpb: per(random), oracle_path_bpb: per(oracle), dense_bpb: hasDense ? per(dense) : null };
}

export interface EvalOptions {
  log?: Logger;
  /**
   * Worker threads scoring documents in parallel (default min(2, cores)). onnxruntime-node runs a
   * session synchronously on the calling thread, so parallelism needs threads, not promises.
   */
  workers?: number;
  /** onnxruntime intra-op threads per session (default 1). */
  threads?: number;
  maxDocs?: number;
  /** N of `reroute_bpb` (default 64). */
  rerouteEvery?: number;
}

/** Scores documents `indices` of `docs` in this thread. */
export async function scoreDocs(pkg: ModelPackage, docs: readonly HeldoutDoc[], indices: readonly number[],
  threads = 1, progress?: (done: number) => void, rerouteEvery = 64): Promise<DocScore[]> {
  const m = await openAll(pkg, threads);
  const out: DocScore[] = [];
  try {
    for (const i of indices) {
      out.push(await scoreDoc(pkg, m, docs[i], rerouteEvery));
      progress?.(out.length);
    }
  } finally {
    await releaseAll(m);
  }
  return out;
}

/** Runs the whole evaluation of a package with an eval section. */
export async function evaluatePackage(pkg: ModelPackage, opts: EvalOptions = {}): Promise<EvalReport> {
  const log = opts.log ?? silentLogger;
  const t0 = performance.now();
  let docs = await readHeldout(pkg);
  if (opts.maxDocs !== undefined) docs = docs.slice(0, opts.maxDocs);
  const W = Math.max(1, Math.min(opts.workers ?? Math.min(2, availableParallelism()), docs.length));
  const shards = Array.from({ length: W }, (_, w) => docs.map((_, i) => i).filter((i) => i % W === w));
  let done = 0;
  const progress = () => { if (++done % 50 === 0) log.info(`scored ${done}/${docs.length} documents`); };
  const every = opts.rerouteEvery ?? 64;
  const results = W === 1
    ? [await scoreDocs(pkg, docs, shards[0], opts.threads ?? 1, progress, every)]
    : await Promise.all(shards.map((ix) => scoreInWorker(pkg.dir, docs, ix, opts.threads ?? 1, every, progress)));
  const scores: DocScore[] = new Array(docs.length);
  shards.forEach((ix, w) => ix.forEach((i, k) => { scores[i] = results[w][k]; }));
  return report(pkg, scores, every, (performance.now() - t0) / 1000);
}

function scoreInWorker(dir: string, docs: readonly HeldoutDoc[], indices: number[], threads: number, rerouteEvery: number,
  progress: () => void): Promise<DocScore[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./eval-worker.ts', import.meta.url), { workerData: { dir, docs, indices, threads, rerouteEvery } });
    let result: DocScore[] | undefined;
    w.on('message', (msg: { type: 'progress' } | { type: 'done'; scores: DocScore[] }) => {
      if (msg.type === 'progress') progress(); else result = msg.scores;
    });
    w.on('error', reject);
    w.on('exit', (code) => (result ? resolve(result) : reject(new Error(`eval worker exited with code ${code} before finishing`))));
  });
}

function report(pkg: ModelPackage, scores: DocScore[], rerouteEvery: number, seconds: number): EvalReport {
  const { router } = pkg.manifest;
  const bytes = scores.reduce((a, s) => a + s.bytes, 0);
  const domains = [...new Set(scores.map((s) => s.domain))].sort();
  const per_domain: Record<string, BpbTable> = {};
  const share: Record<string, Record<string, number>> = {};
  for (const d of domains) {
    const ds = scores.filter((s) => s.domain === d);
    per_domain[d] = tabulate(ds);
    share[d] = {};
    const counts = new Map<number, number>();
    for (const s of ds) counts.set(s.cluster, (counts.get(s.cluster) ?? 0) + 1);
    for (const [c, n] of [...counts].sort((a, b) => a[0] - b[0])) share[d][String(c)] = n / ds.length;
  }
  return {
    model: pkg.manifest.name,
    ...tabulate(scores),
    prefix_bytes: router.featurizer.prefix_bytes,
    reroute_every: rerouteEvery,
    rerouted_docs: scores.filter((s) => s.pathChanges > 0).length,
    path_changes: scores.reduce((a, s) => a + s.pathChanges, 0),
    paths: router.paths.map((p) => [...p]),
    path_bpb: router.paths.map((_, i) => (bytes > 0 ? scores.reduce((a, s) => a + s.pathBits[i], 0) / bytes : NaN)),
    per_domain,
    routed_path_share_by_domain: share,
    seconds,
  };
}
