import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const root = new URL('../../../', import.meta.url).pathname;
const run = promisify(execFile);

test('the k6 scripts typecheck against @types/k6 (npx tsc -p loadtest/tsconfig.json)', async () => {
  const tsc = `${root}node_modules/typescript/bin/tsc`;
  const { stdout, stderr } = await run(process.execPath, [tsc, '-p', 'loadtest/tsconfig.json'], { cwd: root }).catch((e) => e);
  assert.equal(`${stdout ?? ''}${stderr ?? ''}`.trim(), '');
});

test('each k6 script is a // @ts-check module with options, thresholds and a default function', () => {
  const scripts = readdirSync(`${root}loadtest`).filter((f) => f.endsWith('.js'));
  assert.deepEqual(scripts.sort(), ['load.js', 'smoke.js', 'soak.js', 'stress.js']);
  for (const f of scripts) {
    const src = readFileSync(`${root}loadtest/${f}`, 'utf8');
    assert.match(src, /^\/\/ @ts-check/, f);
    assert.match(src, /export const options/, f);
    assert.match(src, /thresholdsFor\(TABLE, '(smoke|load|stress|soak)'\)/, f);
    assert.match(src, /export default function/, f);
    for (const m of src.matchAll(/from '([^']+)'/g)) assert.match(m[1], /^(k6(\/.*)?|\.\/lib\/swarmpath\.js)$/, `${f} imports only k6 modules and the shared lib`);
  }
  const lib = readFileSync(`${root}loadtest/lib/swarmpath.js`, 'utf8');
  assert.match(lib, /new Trend\('time_to_first_token', true\)/);
  assert.match(lib, /__ENV\.BASE_URL/);
  assert.match(lib, /__ENV\.API_KEY/);
});
