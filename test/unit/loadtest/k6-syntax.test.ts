/**
 * The k6 scripts (loadtest/*.js and loadtest/lib/**) load on k6 0.49, the oldest k6 that
 * loadtest/README.md supports. Before v0.53 k6 passes every script through a Babel ES2015 transform
 * and goja (ES5.1 plus parts of ES2015), so syntax newer than ES2015 (object spread or rest,
 * optional chaining, `??`, `**`, optional catch bindings, async functions, class fields) stops the
 * script at load time with `SyntaxError: Unexpected token`. TypeScript and eslint accept all of it,
 * so this test parses each file as k6 0.49 would see it: acorn at `ecmaVersion: 2015`, as a module.
 * It also requires that scripts import only k6's own modules or files next to them.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, type Node } from 'acorn';

const root = resolve(import.meta.dirname, '../../..');
const loadtest = join(root, 'loadtest');

/** k6's built-in modules the scripts may import (k6 0.49). */
const K6_MODULES = new Set(['k6', 'k6/http', 'k6/metrics', 'k6/data', 'k6/execution', 'k6/encoding', 'k6/crypto']);

/** The JavaScript files under `dir`, recursively: what k6 may load. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return jsFiles(p);
    return e.isFile() && /\.m?js$/.test(e.name) ? [p] : [];
  });
}

/** What keeps `source` (the file `file`) from loading on k6 0.49: one line each, `file:line:column: why`. */
function k6Problems(source: string, file: string): string[] {
  const name = relative(root, file);
  let program: Node & { body: Node[] };
  try {
    program = parse(source, { ecmaVersion: 2015, sourceType: 'module', locations: true }) as Node & { body: Node[] };
  } catch (err) {
    const loc = (err as { loc?: { line: number; column: number } }).loc;
    return [`${name}:${loc ? `${loc.line}:${loc.column + 1}` : '?'}: ${(err as Error).message} (k6 0.49 parses ES2015 only)`];
  }
  const problems: string[] = [];
  for (const node of program.body) {
    const from = (node as { source?: { value: unknown } | null }).source;
    if (!from) continue;
    const spec = String(from.value);
    const at = `${name}:${node.loc!.start.line}:${node.loc!.start.column + 1}`;
    if (spec.startsWith('./') || spec.startsWith('../')) {
      if (!existsSync(resolve(dirname(file), spec))) problems.push(`${at}: imports ${spec}, which does not exist`);
    } else if (!K6_MODULES.has(spec)) {
      problems.push(`${at}: imports ${JSON.stringify(spec)}; only ${[...K6_MODULES].join(', ')} or relative files`);
    }
  }
  return problems;
}

describe('k6 scripts load on k6 0.49', () => {
  it('every script and library under loadtest/ is ES2015 and imports only k6 modules or relative files', () => {
    const files = jsFiles(loadtest);
    const names = files.map((f) => relative(loadtest, f)).sort();
    for (const expected of ['load.js', 'smoke.js', 'soak.js', 'stress.js', join('lib', 'swarmpath.js')]) {
      assert.ok(names.includes(expected), `${expected} is among the files checked (${names.join(', ')})`);
    }
    const problems = files.flatMap((f) => k6Problems(readFileSync(f, 'utf8'), f));
    assert.deepEqual(problems, []);
  });

  it('names file, line and column of syntax newer than ES2015', () => {
    const file = join(loadtest, 'example.js');
    const cases: Array<[string, number]> = [
      ['const a = { b: 1 };\nexport const o = { ...a };\n', 2],
      ['export function f(o) {\n  const { a, ...rest } = o;\n  return rest;\n}\n', 2],
      ['export const v = __ENV.A?.b;\n', 1],
      ['export const v = __ENV.A ?? 1;\n', 1],
      ['export const v = 2 ** 3;\n', 1],
      ['const x = 1;\ntry { JSON.parse("x"); } catch { /* nothing */ }\n', 2],
      ['export async function f() { return 1; }\n', 1],
      ['\n\nexport class A { x = 1; }\n', 3],
    ];
    for (const [src, line] of cases) {
      const problems = k6Problems(src, file);
      assert.equal(problems.length, 1, `${JSON.stringify(src)}: ${problems.join('; ')}`);
      assert.match(problems[0], new RegExp(`^loadtest/example\\.js:${line}:\\d+: Unexpected token`), JSON.stringify(src));
    }
  });

  it('accepts the ES2015 the scripts use: modules, arrows, template literals, computed keys, Object.assign', () => {
    const src = "import http from 'k6/http';\nimport { check } from 'k6';\nconst p = '/x';\n" +
      'export const options = { thresholds: Object.assign({ a: [`rate<${1}`] }, { [`${p}: 200`]: [] }) };\n' +
      'export default function () { const r = http.get(p); check(r, { ok: (x) => x.status === 200 }); }\n';
    assert.deepEqual(k6Problems(src, join(loadtest, 'example.js')), []);
  });

  it('refuses imports of Node modules, remote modules, other k6 modules and missing files', () => {
    const file = join(loadtest, 'example.js');
    for (const spec of ['node:fs', 'https://jslib.k6.io/k6-utils/1.4.0/index.js', 'k6/experimental/browser', 'lodash']) {
      const problems = k6Problems(`import x from '${spec}';\nexport default function () { return x; }\n`, file);
      assert.equal(problems.length, 1, spec);
      assert.match(problems[0], /^loadtest\/example\.js:1:1: imports /, spec);
    }
    assert.match(k6Problems("export { a } from './lib/nope.js';\n", file)[0], /imports \.\/lib\/nope\.js, which does not exist/);
    assert.deepEqual(k6Problems("import { BASE_URL } from './lib/swarmpath.js';\nexport const u = BASE_URL;\n", file), []);
  });
});
