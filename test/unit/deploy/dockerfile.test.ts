/**
 * The Dockerfile builds an image that can run `swarmpath`: a Node 24 slim base, production
 * dependencies only (with the .npmrc that skips onnxruntime's CUDA download), a non-root user, a
 * health check and `swarmpath` as the entry point; and everything the command loads at run time
 * (the files reachable by import from bin/swarmpath.js and cli/main.ts, the files they open by URL,
 * the bundled model) is in the build context (.dockerignore) and copied into the image, while each
 * package it imports is a production dependency.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { ROOT, filesUnder } from './deploy-files.ts';

interface Instruction { cmd: string; args: string; line: number }
interface Stage { base: string; name?: string; body: Instruction[] }

/** The Dockerfile's instructions: comments and parser directives dropped, continuation lines joined. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    if (!pending && /^\s*(#|$)/.test(raw)) return;
    const part = raw.replace(/\\\s*$/, '');
    pending = pending ? { text: `${pending.text} ${part.trim()}`, line: pending.line } : { text: part.trim(), line: i + 1 };
    if (/\\\s*$/.test(raw)) return;
    const m = /^(\S+)\s*(.*)$/.exec(pending.text)!;
    out.push({ cmd: m[1].toUpperCase(), args: m[2], line: pending.line });
    pending = undefined;
  });
  return out;
}

/** Build stages, with `${ARG}` in FROM filled from the global ARG defaults. */
function stages(text: string): Stage[] {
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const ins of instructions(text)) {
    if (ins.cmd === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const base = words[0].replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n: string) => args.get(n) ?? `<unset ${n}>`);
      out.push({ base, name: words[1]?.toUpperCase() === 'AS' ? words[2] : undefined, body: [] });
    } else if (out.length === 0 && ins.cmd === 'ARG') {
      const [k, v] = ins.args.split('=');
      if (v !== undefined) args.set(k, v);
    } else if (out.length > 0) {
      out[out.length - 1].body.push(ins);
    }
  }
  return out;
}

/**
 * Whether the build context keeps `path` (relative, `/`-separated) under these .dockerignore rules:
 * the last rule that matches the path or one of its parent folders decides (`!` keeps); `*` and `?`
 * stay within a path segment, `**` crosses them.
 */
function inContext(rules: readonly string[], path: string): boolean {
  let keep = true;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const pattern = (negate ? rule.slice(1) : rule).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(`^${globSource(pattern)}$`);
    const segments = path.split('/');
    if (segments.some((_, i) => re.test(segments.slice(0, i + 1).join('/')))) keep = negate;
  }
  return keep;
}

// A regular expression source for a .dockerignore glob: `**` then a slash matches any folders (or
// none), `**` anything, `*` and `?` stay within a segment.
function globSource(glob: string): string {
  return glob.split(/(\*\*\/|\*\*|\*|\?)/).map((t) => {
    if (t === '**/') return '(?:.*/)?';
    if (t === '**') return '.*';
    if (t === '*') return '[^/]*';
    if (t === '?') return '[^/]';
    return t.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }).join('');
}

function dockerignore(): string[] {
  return readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

/** Folders the command reaches only through `swarmpath bench`, which runs from a checkout (it measures this machine). */
const NOT_IN_IMAGE = ['bench/'];

/**
 * What the files reachable from `entries` load at run time: repository files (relative imports,
 * followed; `new URL('…', import.meta.url)` files and folders) and packages (bare imports).
 * `import type` is erased when Node strips types, so it loads nothing.
 */
function runtimeClosure(entries: readonly string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = entries.map((e) => join(ROOT, e));
  const addAsset = (p: string) => {
    if (statSync(p).isDirectory()) for (const f of filesUnder(p, /./)) files.add(f);
    else files.add(p);
  };
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const use = (spec: string) => {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        assert.ok(existsSync(target), `${relative(ROOT, file)} imports ${spec}, which does not exist`);
        if (!NOT_IN_IMAGE.some((d) => relative(ROOT, target).startsWith(d))) queue.push(target);
      } else if (!isBuiltin(spec)) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        packages.set(name, relative(ROOT, file));
      }
    };
    const visit = (n: ts.Node): void => {
      if (ts.isImportDeclaration(n) && !n.importClause?.isTypeOnly && ts.isStringLiteral(n.moduleSpecifier)) use(n.moduleSpecifier.text);
      if (ts.isExportDeclaration(n) && !n.isTypeOnly && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) use(n.moduleSpecifier.text);
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteralLike(n.arguments[0])) use(n.arguments[0].text);
      if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'URL' && n.arguments?.length === 2 && n.arguments[1].getText(sf) === 'import.meta.url') {
        // A literal names a file or folder; a template (`./static/${f}`) the folder before its first substitution.
        const a = n.arguments[0];
        const rel = ts.isStringLiteralLike(a) ? a.text : ts.isTemplateExpression(a) ? a.head.text.slice(0, a.head.text.lastIndexOf('/') + 1) : undefined;
        assert.ok(rel, `${relative(ROOT, file)}: new URL(${a.getText(sf)}, import.meta.url) names no file or folder`);
        const target = resolve(dirname(file), rel);
        assert.ok(existsSync(target), `${relative(ROOT, file)}: ${rel} does not exist`);
        if (ts.isStringLiteralLike(a) && /\.ts$/.test(rel)) queue.push(target); // a worker's module: its imports load too
        else addAsset(target);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { files, packages };
}

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const all = stages(dockerfile);
const final = all[all.length - 1];
const ins = (s: Stage, cmd: string) => s.body.filter((i) => i.cmd === cmd);
const stage = (name: string) => { const s = all.find((x) => x.name === name); assert.ok(s, `stage ${name}`); return s; };

describe('Dockerfile', () => {
  it('the default image is Node 24 slim, runs as a non-root user, has a health check and runs swarmpath', () => {
    assert.match(final.base, /^node:24(\.\d+){0,2}-(bookworm-|trixie-)?slim$/);
    const user = ins(final, 'USER').pop()?.args.split(':')[0];
    assert.ok(user && user !== 'root' && user !== '0', `USER ${user}`);
    const health = ins(final, 'HEALTHCHECK');
    assert.equal(health.length, 1);
    const cmd = JSON.parse(health[0].args.replace(/^(--\S+\s+)*CMD\s+/, ''));
    assert.equal(cmd[0], 'node');
    assert.ok(existsSync(join(ROOT, cmd[1].replace(/^\/app\//, ''))), `the health check ${cmd[1]} is a file of the repository`);
    const entry = JSON.parse(ins(final, 'ENTRYPOINT').pop()!.args);
    assert.deepEqual(entry, ['node', '/app/bin/swarmpath.js']);
    assert.equal(ins(final, 'WORKDIR').pop()?.args, '/app', 'relative --model paths resolve in /app');
  });

  it('installs production dependencies only, with the .npmrc that skips the CUDA download, on the same Node', () => {
    const deps = stage('deps');
    assert.equal(deps.base, final.base);
    const copied = ins(deps, 'COPY').flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) assert.ok(copied.includes(f), `deps copies ${f}`);
    assert.match(readFileSync(join(ROOT, '.npmrc'), 'utf8'), /^onnxruntime-node-install=skip$/m);
    const run = ins(deps, 'RUN').map((r) => r.args).join(' && ');
    assert.match(run, /npm ci\b[^&]*--omit=dev/);
    assert.doesNotMatch(run, /ONNXRUNTIME_NODE_INSTALL/, 'the CPU image keeps .npmrc\'s skip');
    assert.ok(ins(final, 'COPY').some((c) => /^--from=deps\s+\/app\/node_modules\s/.test(c.args)), 'the image takes node_modules from deps');
  });

  it('copies everything swarmpath loads at run time, and the build context keeps it; packages are production dependencies', () => {
    const app = stage('app');
    const copies = ins(app, 'COPY').map((c) => { const w = c.args.split(/\s+/); return { src: w.slice(0, -1), dest: w[w.length - 1] }; });
    for (const c of copies) assert.ok(c.dest.startsWith('/app/'), `COPY to ${c.dest}`);
    assert.ok(ins(final, 'COPY').some((c) => /^--from=app\s+\/app\s+\/app$/.test(c.args)), 'the image takes /app from the app stage');
    const entries = ['bin/swarmpath.js', 'cli/main.ts', 'deploy/dht-key.ts', 'deploy/healthcheck.ts'];
    const { files, packages } = runtimeClosure(entries);
    for (const f of filesUnder(join(ROOT, 'models', 'swarmpath-tiny'), /./)) files.add(f); // the default --model
    assert.ok(files.size > 50, `${files.size} files`);
    const rules = dockerignore();
    const problems: string[] = [];
    for (const f of files) {
      const rel = relative(ROOT, f).split(sep).join('/');
      if (!inContext(rules, rel)) problems.push(`${rel}: left out of the build context by .dockerignore`);
      if (!copies.some((c) => c.src.some((s) => rel === s || rel.startsWith(`${s.replace(/\/$/, '')}/`)))) problems.push(`${rel}: not copied into /app`);
    }
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const [name, from] of packages) if (!(name in pkg.dependencies)) problems.push(`${from} imports ${name}, which npm ci --omit=dev does not install`);
    assert.deepEqual(problems, []);
  });

  it('.dockerignore keeps dependencies, history, tests and local builds out of the build context', () => {
    const rules = dockerignore();
    for (const p of ['node_modules/onnxruntime-node/package.json', '.git/HEAD', 'test/unit/deploy/dockerfile.test.ts', 'bench/run-bench.ts', 'models/build/work/x.bin', 'loadtest/load.js']) {
      assert.equal(inContext(rules, p), false, p);
    }
    for (const p of ['cli/main.ts', 'package-lock.json', '.npmrc', 'models/swarmpath-tiny/manifest.json', 'deploy/healthcheck.ts']) assert.equal(inContext(rules, p), true, p);
    // The matcher itself: the last matching rule wins, a folder rule covers what is inside.
    assert.equal(inContext(['*', '!a/', 'a/b'], 'a/c.ts'), true);
    assert.equal(inContext(['*', '!a/', 'a/b'], 'a/b/c.ts'), false);
    assert.equal(inContext(['**/*.log'], 'x/y/z.log'), false);
    assert.equal(inContext(['**/*.log'], 'z.log'), false);
    assert.equal(inContext(['**/*.log'], 'x/z.ts'), true);
    assert.equal(inContext(['models/*.tmp'], 'models/a.tmp/f'), false);
  });

  it('the GPU target adds onnxruntime\'s CUDA provider on a CUDA image, with the same user, health check and entry point', () => {
    const gpu = stage('gpu');
    // onnxruntime 1.29.0's CUDA provider is built against CUDA 13 (shared/model/gpu-install.ts).
    assert.match(gpu.base, /^nvidia\/cuda:13\.[\d.]+-runtime-/);
    const cuda = stage('deps-cuda');
    const runs = ins(cuda, 'RUN').map((r) => r.args).join(' && ');
    assert.match(runs, /npm ci\b[^&]*--omit=dev/);
    assert.match(runs, /node bin\/gpu-install\.js\b/, 'the provider comes from the registry, hashes checked');
    assert.ok(ins(gpu, 'COPY').some((c) => /^--from=deps-cuda\s+\/app\/node_modules\s/.test(c.args)));
    for (const cmd of ['USER', 'HEALTHCHECK', 'ENTRYPOINT', 'WORKDIR']) assert.equal(ins(gpu, cmd).pop()?.args, ins(final, cmd).pop()?.args, cmd);
  });
});
