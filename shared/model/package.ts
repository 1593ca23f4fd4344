/**
 * Loading a model package folder: reads and validates `manifest.json`, and verifies the files a
 * process actually uses (size, then sha256 streamed in chunks). Only the files opened are checked,
 * so a host holding some experts or a router holding only stem and head loads fine.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { BadPackageError, IntegrityError, UnknownExpertError } from '../errors.ts';
import type { FileRef, Manifest } from '../manifest.ts';
import type { ModelPackage } from '../runtime-types.ts';
import { validateManifest } from './manifest-schema.ts';

export interface LoadPackageOptions {
  /** Verify every file referenced by the manifest at load time (default false: verify on open). */
  verifyAll?: boolean;
}

/** Reads `DIR/manifest.json`, validates it, and returns the package (files verified on open). */
export async function loadPackage(dir: string, opts: LoadPackageOptions = {}): Promise<ModelPackage> {
  const root = resolve(dir);
  const manifestPath = join(root, 'manifest.json');
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new BadPackageError(`cannot read ${manifestPath}: ${(err as Error).message}`, err);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadPackageError(`${manifestPath} is not valid JSON: ${(err as Error).message}`, err);
  }
  const pkg = packageOf(root, validateManifest(json));
  if (opts.verifyAll) for (const ref of allFileRefs(pkg.manifest)) await verifyFile(pkg, ref);
  return pkg;
}

/** A ModelPackage over an already validated manifest. */
export function packageOf(dir: string, manifest: Manifest): ModelPackage {
  const root = resolve(dir);
  const byId = new Map(manifest.levels.flatMap((l) => l.experts.map((e) => [e.id, e] as const)));
  return Object.freeze({
    dir: root,
    manifest,
    expert(id: string) {
      const e = byId.get(id);
      if (!e) throw new UnknownExpertError(id);
      return e;
    },
    filePath(rel: string) {
      const abs = resolve(root, rel);
      const r = relative(root, abs);
      if (r.startsWith('..') || isAbsolute(r)) throw new BadPackageError(`file ${JSON.stringify(rel)} is outside the package`);
      return abs;
    },
  });
}

/** Every FileRef the manifest names (stem, head, experts, eval files). */
export function allFileRefs(m: Manifest): FileRef[] {
  const refs: FileRef[] = [m.stem, m.head, ...m.levels.flatMap((l) => l.experts)];
  if (m.eval) {
    refs.push(m.eval.heldout);
    if (m.eval.dense) refs.push(m.eval.dense.stem, m.eval.dense.blocks, m.eval.dense.head);
  }
  return refs;
}

/** sha256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Checks that `ref`'s file exists with the declared size and sha256; returns its absolute path.
 * Missing file: BadPackageError; wrong size or digest: IntegrityError. Both name the file.
 */
export async function verifyFile(pkg: ModelPackage, ref: FileRef): Promise<string> {
  const path = pkg.filePath(ref.file);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new BadPackageError(`package ${pkg.manifest.name}: file ${ref.file} is missing (${path}: ${(err as Error).message})`, err);
  }
  if (size !== ref.bytes) {
    throw new IntegrityError(`package ${pkg.manifest.name}: file ${ref.file} has ${size} bytes, manifest says ${ref.bytes}`);
  }
  const got = await sha256File(path);
  if (got !== ref.sha256.toLowerCase()) {
    throw new IntegrityError(`package ${pkg.manifest.name}: file ${ref.file} has sha256 ${got}, manifest says ${ref.sha256}`);
  }
  return path;
}
