/**
 * Every Compose file under deploy/ passes `docker-compose -f FILE config -q`, Compose's own schema
 * and interpolation check (Debian's docker-compose 1.29, which CI installs; files it accepts also
 * load in `docker compose` v2). A failure shows Compose's message.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { readdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');

/** `docker-compose -f file config -q`: undefined when it passes, else its exit and stderr. */
async function composeConfig(file: string): Promise<string | undefined> {
  try {
    await run('docker-compose', ['-f', file, 'config', '-q'], { timeout: 60_000, env: { ...process.env, COMPOSE_INTERACTIVE_NO_CLI: '1' } });
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; code?: number | string };
    if (e.code === 'ENOENT') throw new Error('docker-compose is not installed (CI installs Debian\'s: apt-get install docker-compose)', { cause: err });
    return `exit ${e.code}: ${(e.stderr ?? '').trim()}`;
  }
}

/** Compose files under deploy/, at any depth. */
const composeFiles = readdirSync(join(ROOT, 'deploy'), { recursive: true, encoding: 'utf8' })
  .filter((f) => /^(docker-)?compose(\.[\w-]+)?\.ya?ml$/.test(basename(f))).map((f) => join(ROOT, 'deploy', f)).sort();

describe('Compose files', () => {
  it('finds the swarm and the observability-only files', () => {
    assert.deepEqual(composeFiles.map((f) => relative(ROOT, f)).sort(), ['deploy/compose.yaml', 'deploy/docker-compose.yml']);
  });

  for (const file of composeFiles) {
    it(`${relative(ROOT, file)} passes docker-compose config`, async () => {
      const failure = await composeConfig(file);
      assert.equal(failure, undefined, `${basename(file)}: ${failure}`);
    });
  }

  it('docker-compose config refuses a file with an unknown service key (the check can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compose-'));
    try {
      const bad = join(dir, 'compose.yaml');
      await writeFile(bad, 'services:\n  a:\n    image: busybox\n    helthcheck:\n      test: ["CMD", "true"]\n');
      const failure = await composeConfig(bad);
      assert.ok(failure, 'a misspelt key fails');
      assert.match(failure, /helthcheck/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
