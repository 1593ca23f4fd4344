/**
 * Types of a model package, format `swarmpath-model/1` (docs/model-format.md is the normative text),
 * inferred from the zod schemas of shared/model/manifest-schema.ts, which validate it. Field names are
 * the JSON's own.
 */
import type { z } from 'zod';
import type { fileRefSchema, manifestSchema } from './model/manifest-schema.ts';

export { MODEL_FORMAT } from './model/manifest-schema.ts';

export type Manifest = z.output<typeof manifestSchema>;
/** A file of the package, relative to the package folder, with its sha256 (hex) and size in bytes. */
export type FileRef = z.output<typeof fileRefSchema>;
export type LevelEntry = Manifest['levels'][number];
/** An expert: its file, `<level>.<index>` id, transformer blocks (`layers`) and probe. */
export type ExpertEntry = LevelEntry['experts'][number];
/** Checks that a host really serves an expert: a reproducible input and the output's fingerprint. */
export type ExpertProbe = ExpertEntry['probe'];
export type ModelDims = Manifest['dims'];
export type RouterSpec = Manifest['router'];
export type HashedNgramFeaturizer = RouterSpec['featurizer'];
export type EvalSpec = NonNullable<Manifest['eval']>;

/** A path: one expert id per level, in level order. */
export type Path = readonly string[];
