/**
 * `manifest.json` of a model package (format `swarmpath-model/1`) as zod schemas: docs/model-format.md
 * is the normative text, the types of shared/manifest.ts are inferred from these schemas, and
 * validateManifest enforces every rule of the document's "Rules a loader enforces". A refusal is a
 * BadPackageError whose message starts with the field path (`manifest levels[1].experts[2].sha256: …`).
 */
import { z } from 'zod';
import { BadPackageError } from '../errors.ts';

export const MODEL_FORMAT = 'swarmpath-model/1';

const got = (input: unknown) => (input === undefined ? 'nothing' : JSON.stringify(input) ?? String(input));
const posInt = z.number().refine((v) => Number.isInteger(v) && v >= 1, { error: (i) => `must be a positive integer, got ${got(i.input)}` });
const nonNegInt = z.number().refine((v) => Number.isInteger(v) && v >= 0, { error: (i) => `must be a non-negative integer, got ${got(i.input)}` });
const finite = z.number({ error: (i) => `must be a finite number, got ${got(i.input)}` }).refine(Number.isFinite, { error: (i) => `must be a finite number, got ${got(i.input)}` });
const nonEmpty = <T extends z.ZodType>(item: T) => z.array(item).min(1, { error: 'must not be empty' });

/** A relative path inside the package: not absolute, no `..`, no empty segment. */
const packagePath = z.string().refine(
  (f) => f !== '' && !f.startsWith('/') && !f.startsWith('\\') && !/^[A-Za-z]:/.test(f) && !f.split(/[\\/]/).some((s) => s === '..' || s === ''),
  { error: (i) => `must be a relative path inside the package (no "..", not absolute), got ${got(i.input)}` });

/** A file of the package, relative to the package folder, with its sha256 (hex) and size in bytes. */
export const fileRefSchema = z.object({
  file: packagePath,
  sha256: z.string().regex(/^[0-9a-f]{64}$/i, { error: (i) => `must be 64 hex characters, got ${got(i.input)}` }).transform((s) => s.toLowerCase()),
  bytes: nonNegInt,
});

/** Checks that a host really serves an expert: a reproducible input and the output's fingerprint. */
const probeSchema = z.object({
  /** mulberry32 seed of the probe input (docs/model-format.md, "Probes"). */
  seed: z.number().refine((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, { error: (i) => `must be an integer in [0, 2^32), got ${got(i.input)}` }),
  /** Sequence length T of the probe input [1, T, d_model]. */
  tokens: posInt,
  /** Projections of the output on 8 pseudo-random vectors; compared with relative tolerance. */
  fingerprint: z.array(finite).length(8, { error: (i) => `must have 8 numbers, has ${Array.isArray(i.input) ? i.input.length : got(i.input)}` }),
});

const expertSchema = fileRefSchema.extend({
  /** `<level>.<index>`, e.g. `L0.3`. */
  id: z.string(),
  /** Transformer blocks in this expert (L in the KV layout). */
  layers: posInt,
  probe: probeSchema,
});

const levelSchema = z.object({
  /** `L0`, `L1`, … in order. */
  name: z.string(),
  experts: nonEmpty(expertSchema),
});

const dimsSchema = z.object({
  d_model: posInt,
  n_heads: posInt,
  head_dim: posInt,
  vocab_size: posInt,
  /** Longest sequence (prompt + generated) a session may hold. */
  max_context: posInt,
});

const featurizerSchema = z.object({
  type: z.literal('hashed-ngrams/1', { error: (i) => `must be "hashed-ngrams/1", got ${got(i.input)}` }),
  /** Only the first `prefix_bytes` bytes of the prompt are read. */
  prefix_bytes: posInt,
  /** n-gram orders counted, e.g. [1, 2, 3] (hashed as one byte each). */
  orders: nonEmpty(posInt.refine((o) => o <= 255, { error: (i) => `must be at most 255 (the order is hashed as one byte), got ${got(i.input)}` })),
  /** Feature dimension F. */
  buckets: posInt,
});

const routerSchema = z.object({
  featurizer: featurizerSchema,
  /** C x F k-means centroids, one per cluster. */
  centroids: nonEmpty(z.array(finite)),
  /** Cluster c runs path `paths[c]` (one expert id per level). */
  paths: z.array(z.array(z.string())),
  /** Optional discriminative step: cluster = argmax(W f + b), W is C x F. */
  classifier: z.object({ weights: z.array(z.array(finite)), bias: z.array(finite) }).optional(),
});

const evalSchema = z.object({
  /** JSON lines `{"domain": string, "text": string}`, one held-out document a line. */
  heldout: fileRefSchema,
  /** A dense model of one path's size trained on the same tokens, for the eval table. */
  dense: z.object({ stem: fileRefSchema, blocks: fileRefSchema, head: fileRefSchema, layers: posInt }).optional(),
});

export const manifestSchema = z.object({
  format: z.literal(MODEL_FORMAT, { error: (i) => `must be ${JSON.stringify(MODEL_FORMAT)}, got ${got(i.input)}` }),
  name: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: (i) => `must match [A-Za-z0-9._-]+, got ${got(i.input)}` }),
  description: z.string().optional(),
  tokenizer: z.object({ type: z.literal('bytes/1', { error: (i) => `must be "bytes/1", got ${got(i.input)}` }), vocab_size: posInt }),
  dims: dimsSchema,
  stem: fileRefSchema,
  head: fileRefSchema,
  levels: nonEmpty(levelSchema),
  router: routerSchema,
  eval: evalSchema.optional(),
  /** Free-form provenance (training recipe, seeds, corpus); never read by the runtime. */
  training: z.record(z.string(), z.unknown()).optional(),
}).superRefine((m, ctx) => {
  const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const d = m.dims;
  if (d.d_model !== d.n_heads * d.head_dim) {
    fail(['dims', 'd_model'], `must equal n_heads * head_dim (${d.n_heads} * ${d.head_dim} = ${d.n_heads * d.head_dim}), got ${d.d_model}`);
  }
  if (d.vocab_size !== m.tokenizer.vocab_size) fail(['dims', 'vocab_size'], `must equal tokenizer.vocab_size (${m.tokenizer.vocab_size}), got ${d.vocab_size}`);
  m.levels.forEach((lv, i) => {
    if (lv.name !== `L${i}`) fail(['levels', i, 'name'], `must be "L${i}" (levels are L0, L1, … in order), got ${JSON.stringify(lv.name)}`);
    lv.experts.forEach((e, k) => {
      const want = `${lv.name}.${k}`;
      if (e.id !== want) fail(['levels', i, 'experts', k, 'id'], `must be ${JSON.stringify(want)} (ids are <level>.<index> in order), got ${JSON.stringify(e.id)}`);
    });
  });
  checkRouter(m.router, m.levels, fail);
});

type Fail = (path: (string | number)[], message: string) => void;

function checkRouter(r: z.output<typeof routerSchema>, levels: z.output<typeof levelSchema>[], fail: Fail): void {
  const F = r.featurizer.buckets;
  const C = r.centroids.length;
  r.centroids.forEach((row, c) => { if (row.length !== F) fail(['router', 'centroids', c], `must have ${F} numbers, has ${row.length}`); });
  if (r.paths.length !== C) fail(['router', 'paths'], `must have one path per centroid (${C}), has ${r.paths.length}`);
  const used = new Set<string>();
  r.paths.forEach((ids, c) => {
    if (ids.length !== levels.length) { fail(['router', 'paths', c], `must have one expert per level (${levels.length}), has ${ids.length}`); return; }
    ids.forEach((id, l) => {
      if (!levels[l].experts.some((e) => e.id === id)) fail(['router', 'paths', c, l], `${JSON.stringify(id)} is not an expert of level ${levels[l].name}`);
      used.add(id);
    });
  });
  for (const lv of levels) for (const e of lv.experts) if (!used.has(e.id)) fail(['router', 'paths'], `expert ${e.id} is on no path`);
  if (r.classifier) {
    const { weights, bias } = r.classifier;
    if (weights.length !== C) fail(['router', 'classifier', 'weights'], `must have ${C} rows (one per cluster), has ${weights.length}`);
    weights.forEach((row, c) => { if (row.length !== F) fail(['router', 'classifier', 'weights', c], `must have ${F} numbers, has ${row.length}`); });
    if (bias.length !== C) fail(['router', 'classifier', 'bias'], `must have ${C} numbers, has ${bias.length}`);
  }
}

/** `levels[1].experts[2].sha256` from zod's path. */
function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function refuse(error: z.ZodError): never {
  const issue = error.issues[0];
  throw new BadPackageError(`manifest ${fieldPath(issue.path)}: ${issue.message}`);
}

/** Validates parsed `manifest.json`; returns a clean copy typed as Manifest or throws BadPackageError naming the field. */
export function validateManifest(json: unknown): z.output<typeof manifestSchema> {
  const r = manifestSchema.safeParse(json);
  if (!r.success) refuse(r.error);
  return r.data;
}
