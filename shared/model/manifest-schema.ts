/**
 * Validation of `manifest.json` against docs/model-format.md (format `swarmpath-model/1`). Pure: takes
 * parsed JSON, returns it typed or throws a BadPackageError whose message starts with the field path
 * (`levels[1].experts[2].sha256: …`). Every rule of the document's "Rules a loader enforces" is here.
 */
import { BadPackageError } from '../errors.ts';
import { MODEL_FORMAT } from '../manifest.ts';
import type { ExpertEntry, FileRef, Manifest } from '../manifest.ts';

type Obj = Record<string, unknown>;

function fail(path: string, msg: string): never {
  throw new BadPackageError(`manifest ${path}: ${msg}`);
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, `must be an object, got ${kind(v)}`);
  return v as Obj;
}

function arr(v: unknown, path: string, nonEmpty = false): unknown[] {
  if (!Array.isArray(v)) fail(path, `must be an array, got ${kind(v)}`);
  if (nonEmpty && v.length === 0) fail(path, 'must not be empty');
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, `must be a string, got ${kind(v)}`);
  return v;
}

function posInt(v: unknown, path: string, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    fail(path, `must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

function finite(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function numbers(v: unknown, path: string, length?: number): number[] {
  const a = arr(v, path);
  if (length !== undefined && a.length !== length) fail(path, `must have ${length} numbers, has ${a.length}`);
  for (let i = 0; i < a.length; i++) finite(a[i], `${path}[${i}]`);
  return a as number[];
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Checks a `{file, sha256, bytes}` reference: a relative path inside the package, 64 hex chars, a size. */
export function validateFileRef(v: unknown, path: string): FileRef {
  const o = obj(v, path);
  const file = str(o.file, `${path}.file`);
  if (file === '' || file.startsWith('/') || file.startsWith('\\') || /^[A-Za-z]:/.test(file) ||
    file.split(/[\\/]/).some((seg) => seg === '..' || seg === '')) {
    fail(`${path}.file`, `must be a relative path inside the package (no "..", not absolute), got ${JSON.stringify(file)}`);
  }
  const sha256 = str(o.sha256, `${path}.sha256`);
  if (!/^[0-9a-f]{64}$/i.test(sha256)) fail(`${path}.sha256`, `must be 64 hex characters, got ${JSON.stringify(sha256)}`);
  const bytes = posInt(o.bytes, `${path}.bytes`, true);
  return { file, sha256: sha256.toLowerCase(), bytes };
}

function validateDims(v: unknown, tokenizerVocab: number): Manifest['dims'] {
  const o = obj(v, 'dims');
  const d = {
    d_model: posInt(o.d_model, 'dims.d_model'),
    n_heads: posInt(o.n_heads, 'dims.n_heads'),
    head_dim: posInt(o.head_dim, 'dims.head_dim'),
    vocab_size: posInt(o.vocab_size, 'dims.vocab_size'),
    max_context: posInt(o.max_context, 'dims.max_context'),
  };
  if (d.d_model !== d.n_heads * d.head_dim) {
    fail('dims.d_model', `must equal n_heads * head_dim (${d.n_heads} * ${d.head_dim} = ${d.n_heads * d.head_dim}), got ${d.d_model}`);
  }
  if (d.vocab_size !== tokenizerVocab) fail('dims.vocab_size', `must equal tokenizer.vocab_size (${tokenizerVocab}), got ${d.vocab_size}`);
  return d;
}

function validateExpert(v: unknown, path: string, wantId: string): ExpertEntry {
  const o = obj(v, path);
  const id = str(o.id, `${path}.id`);
  if (id !== wantId) fail(`${path}.id`, `must be ${JSON.stringify(wantId)} (ids are <level>.<index> in order), got ${JSON.stringify(id)}`);
  const ref = validateFileRef(o, path);
  const layers = posInt(o.layers, `${path}.layers`);
  const p = obj(o.probe, `${path}.probe`);
  const seed = p.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    fail(`${path}.probe.seed`, `must be an integer in [0, 2^32), got ${JSON.stringify(seed)}`);
  }
  const probe = { seed, tokens: posInt(p.tokens, `${path}.probe.tokens`), fingerprint: numbers(p.fingerprint, `${path}.probe.fingerprint`, 8) };
  return { id, ...ref, layers, probe };
}

function validateLevels(v: unknown): Manifest['levels'] {
  return arr(v, 'levels', true).map((lv, i) => {
    const path = `levels[${i}]`;
    const o = obj(lv, path);
    const name = str(o.name, `${path}.name`);
    if (name !== `L${i}`) fail(`${path}.name`, `must be "L${i}" (levels are L0, L1, … in order), got ${JSON.stringify(name)}`);
    const experts = arr(o.experts, `${path}.experts`, true).map((e, k) => validateExpert(e, `${path}.experts[${k}]`, `${name}.${k}`));
    return { name, experts };
  });
}

function validateRouter(v: unknown, levels: Manifest['levels']): Manifest['router'] {
  const o = obj(v, 'router');
  const fo = obj(o.featurizer, 'router.featurizer');
  if (fo.type !== 'hashed-ngrams/1') fail('router.featurizer.type', `must be "hashed-ngrams/1", got ${JSON.stringify(fo.type)}`);
  const orders = arr(fo.orders, 'router.featurizer.orders', true).map((k, i) => {
    const o = posInt(k, `router.featurizer.orders[${i}]`);
    if (o > 255) fail(`router.featurizer.orders[${i}]`, `must be at most 255 (the order is hashed as one byte), got ${o}`);
    return o;
  });
  const featurizer = {
    type: 'hashed-ngrams/1' as const,
    prefix_bytes: posInt(fo.prefix_bytes, 'router.featurizer.prefix_bytes'),
    orders,
    buckets: posInt(fo.buckets, 'router.featurizer.buckets'),
  };
  const F = featurizer.buckets;
  const centroids = arr(o.centroids, 'router.centroids', true).map((row, c) => numbers(row, `router.centroids[${c}]`, F));
  const paths = arr(o.paths, 'router.paths');
  if (paths.length !== centroids.length) fail('router.paths', `must have one path per centroid (${centroids.length}), has ${paths.length}`);
  const used = new Set<string>();
  const checked = paths.map((p, c) => {
    const ids = arr(p, `router.paths[${c}]`);
    if (ids.length !== levels.length) fail(`router.paths[${c}]`, `must have one expert per level (${levels.length}), has ${ids.length}`);
    return ids.map((id, l) => {
      const s = str(id, `router.paths[${c}][${l}]`);
      if (!levels[l].experts.some((e) => e.id === s)) fail(`router.paths[${c}][${l}]`, `${JSON.stringify(s)} is not an expert of level ${levels[l].name}`);
      used.add(s);
      return s;
    });
  });
  for (const lv of levels) for (const e of lv.experts) if (!used.has(e.id)) fail('router.paths', `expert ${e.id} is on no path`);
  const router: Manifest['router'] = { featurizer, centroids, paths: checked };
  if (o.classifier !== undefined) {
    const co = obj(o.classifier, 'router.classifier');
    const weights = arr(co.weights, 'router.classifier.weights');
    if (weights.length !== centroids.length) fail('router.classifier.weights', `must have ${centroids.length} rows (one per cluster), has ${weights.length}`);
    router.classifier = {
      weights: weights.map((row, c) => numbers(row, `router.classifier.weights[${c}]`, F)),
      bias: numbers(co.bias, 'router.classifier.bias', centroids.length),
    };
  }
  return router;
}

function validateEval(v: unknown): Manifest['eval'] {
  const o = obj(v, 'eval');
  const out: NonNullable<Manifest['eval']> = { heldout: validateFileRef(o.heldout, 'eval.heldout') };
  if (o.dense !== undefined) {
    const d = obj(o.dense, 'eval.dense');
    out.dense = {
      stem: validateFileRef(d.stem, 'eval.dense.stem'),
      blocks: validateFileRef(d.blocks, 'eval.dense.blocks'),
      head: validateFileRef(d.head, 'eval.dense.head'),
      layers: posInt(d.layers, 'eval.dense.layers'),
    };
  }
  return out;
}

/** Validates parsed `manifest.json`; returns a clean copy typed as Manifest or throws BadPackageError naming the field. */
export function validateManifest(json: unknown): Manifest {
  const o = obj(json, '(root)');
  if (o.format !== MODEL_FORMAT) fail('format', `must be ${JSON.stringify(MODEL_FORMAT)}, got ${JSON.stringify(o.format)}`);
  const name = str(o.name, 'name');
  if (!/^[A-Za-z0-9._-]+$/.test(name)) fail('name', `must match [A-Za-z0-9._-]+, got ${JSON.stringify(name)}`);
  if (o.description !== undefined) str(o.description, 'description');
  const tok = obj(o.tokenizer, 'tokenizer');
  if (tok.type !== 'bytes/1') fail('tokenizer.type', `must be "bytes/1", got ${JSON.stringify(tok.type)}`);
  const tokenizer = { type: 'bytes/1' as const, vocab_size: posInt(tok.vocab_size, 'tokenizer.vocab_size') };
  const dims = validateDims(o.dims, tokenizer.vocab_size);
  const levels = validateLevels(o.levels);
  const m: Manifest = {
    format: MODEL_FORMAT, name, tokenizer, dims,
    stem: validateFileRef(o.stem, 'stem'),
    head: validateFileRef(o.head, 'head'),
    levels,
    router: validateRouter(o.router, levels),
  };
  if (typeof o.description === 'string') m.description = o.description;
  if (o.eval !== undefined) m.eval = validateEval(o.eval);
  if (o.training !== undefined) m.training = obj(o.training, 'training');
  return m;
}
