/**
 * Reading the deployment files of deploy/ in tests: the repository root, files under a folder, YAML
 * documents (with `<<` merge keys, which Compose files use), and the arguments a container is given
 * with `$(VAR)` / `${VAR}` references filled in.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../../..');

/** A peer id of the right shape, for arguments that embed the DHT node's id. */
export const SAMPLE_PEER_ID = '12D3KooWGe6oMTQu84hCFENoVZCUeFWvgFc9SLzTZCiBRGP1mk1j';

/** Files under `dir` (absolute), recursively, whose names match `re`, sorted. */
export function filesUnder(dir: string, re: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p, re);
    return e.isFile() && re.test(e.name) ? [p] : [];
  }).sort();
}

/** Every YAML document of `file`; a syntax error throws naming the file. Empty documents are dropped. */
export function yamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
  const out: unknown[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    const value = d.toJS({ maxAliasCount: 1000 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** The single YAML document of `file`. */
export function yamlDocument(file: string): any {
  const docs = yamlDocuments(file);
  if (docs.length !== 1) throw new Error(`${file}: ${docs.length} documents, expected 1`);
  return docs[0];
}

/** `s` with every `$(NAME)` (Kubernetes) or `${NAME}` (shell) replaced from `vars`; an unknown name throws. */
export function fillVars(s: string, vars: Readonly<Record<string, string>>): string {
  return s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b) as string;
    if (!(name in vars)) throw new Error(`${s}: no value for ${name}`);
    return vars[name];
  });
}
