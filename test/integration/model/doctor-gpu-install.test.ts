/**
 * The CUDA provider installer against a small fake tarball laid out like the registry's package, into
 * scratch copies of onnxruntime-node's folder (never the real node_modules): files land beside
 * libonnxruntime.so with their hashes checked, `doctor` then finds them with onnxruntime's version,
 * and a wrong version, tarball or file is refused with nothing installed.
 */
import { afterAll, beforeAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { diagnose } from '../../../shared/model/cuda-diagnosis.ts';
import { gatherCudaFacts } from '../../../shared/model/cuda-facts.ts';
import { CUDA_PROVIDER, STAMP_FILE, tarballName, type ProviderSpec } from '../../../shared/model/gpu-provider.ts';
import { installProvider } from '../../../shared/model/gpu-install.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const work = mkdtempSync(join(tmpdir(), 'swarmpath-gpu-install-'));
const contents = new Map(CUDA_PROVIDER.files.map((f) => [f.name, randomBytes(1000 + f.name.length)]));
const sha = (b: Buffer, a = 'sha256') => createHash(a).update(b).digest(a === 'sha256' ? 'hex' : 'base64');
let tarball = '';
let spec: ProviderSpec;

/** A scratch onnxruntime-node folder of `version`, with a fake libonnxruntime.so.1. */
function scratchOrt(version: string): { ortDir: string; bin: string } {
  const ortDir = mkdtempSync(join(work, `ort-${version}-`));
  const bin = join(ortDir, 'bin', 'napi-v6', process.platform, process.arch);
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(ortDir, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version }));
  writeFileSync(join(bin, 'libonnxruntime.so.1'), 'not really');
  return { ortDir, bin };
}
const installed = (bin: string) => readdirSync(bin).sort();

beforeAll(async () => {
  const src = join(work, 'src');
  mkdirSync(join(src, 'package', 'Plugins', 'Linux', 'x64'), { recursive: true });
  writeFileSync(join(src, 'package', 'package.json'), JSON.stringify({ name: 'fake-gpu', version: '0.0.1' }));
  for (const f of CUDA_PROVIDER.files) {
    writeFileSync(join(src, f.pathInTarball), contents.get(f.name)!);
    writeFileSync(join(src, `${f.pathInTarball}.meta`), 'unity');
  }
  tarball = join(work, 'fake-gpu-0.0.1.tgz');
  await run('tar', ['-czf', tarball, '-C', src, 'package']);
  spec = {
    package: 'fake-gpu', version: '0.0.1', onnxruntime: '1.29.0', integrity: `sha512-${sha(readFileSync(tarball), 'sha512')}`,
    files: CUDA_PROVIDER.files.map((f) => ({ ...f, sha256: sha(contents.get(f.name)!), bytes: contents.get(f.name)!.length })),
  };
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

test('installs the three libraries beside libonnxruntime.so, verified, and doctor finds them with onnxruntime\'s version', async () => {
  const { ortDir, bin } = scratchOrt('1.29.0');
  const r = await installProvider({ ortDir, cacheDir: join(work, 'cache'), tarball, spec });
  assert.equal(r.dir, bin);
  assert.equal(r.download_ms, null);
  assert.deepEqual(installed(bin), ['libonnxruntime.so.1', ...CUDA_PROVIDER.files.map((f) => f.name), STAMP_FILE].sort());
  for (const f of CUDA_PROVIDER.files) {
    assert.deepEqual(readFileSync(join(bin, f.name)), contents.get(f.name));
    assert.ok((statSync(join(bin, f.name)).mode & 0o111) !== 0, `${f.name} is executable`);
  }
  const d = diagnose(await gatherCudaFacts({ ortDir }));
  assert.equal(d.cuda.provider_found, true);
  assert.equal(d.cuda.path, bin);
  assert.equal(d.cuda.provider_version, d.onnxruntime_version);
  assert.equal(d.onnxruntime_version, '1.29.0');
  // The same through the command, on the scratch folder.
  const { stdout } = await run(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'doctor', '--json', '--ort-dir', ortDir], { timeout: 60_000 });
  const j = JSON.parse(stdout) as typeof d;
  assert.deepEqual([j.cuda.provider_found, j.cuda.provider_version, j.onnxruntime_version], [true, '1.29.0', '1.29.0']);
  assert.ok(j.providers.includes('cpu') && j.providers.includes('cuda'));
});

test('fetches into the cache with npm pack when no tarball is given, and reuses it after', async () => {
  const { ortDir } = scratchOrt('1.29.0');
  const cacheDir = join(work, 'npm-cache');
  const npm = join(work, 'fake-npm.sh');
  // Stands in for `npm pack NAME@VERSION --pack-destination DIR --silent`.
  writeFileSync(npm, `#!/bin/sh\n[ "$1" = pack ] && [ "$2" = fake-gpu@0.0.1 ] && [ "$3" = --pack-destination ] && cp '${tarball}' "$4/${tarballName(spec)}"\n`);
  chmodSync(npm, 0o755);
  const first = await installProvider({ ortDir, cacheDir, spec, npm });
  assert.notEqual(first.download_ms, null);
  assert.equal(first.tarball, join(cacheDir, tarballName(spec)));
  const again = await installProvider({ ortDir, cacheDir, spec, npm: '/nonexistent/npm' });
  assert.equal(again.download_ms, null);
});

test('refuses a file whose hash differs, and leaves nothing behind', async () => {
  const { ortDir, bin } = scratchOrt('1.29.0');
  const bad = { ...spec, files: spec.files.map((f, i) => (i === 1 ? { ...f, sha256: '0'.repeat(64) } : f)) };
  await assert.rejects(installProvider({ ortDir, cacheDir: work, tarball, spec: bad }),
    (e: Error & { code?: string }) => e.code === 'INTEGRITY' && /libonnxruntime_providers_cuda\.so .* expected 0{64}: not installed/.test(e.message));
  assert.deepEqual(installed(bin), ['libonnxruntime.so.1']);
});

test('refuses a tarball that is not the package (sha512), and one without the files', async () => {
  const { ortDir, bin } = scratchOrt('1.29.0');
  await assert.rejects(installProvider({ ortDir, cacheDir: work, tarball, spec: { ...spec, integrity: 'sha512-AAAA' } }), /is not fake-gpu@0\.0\.1: its sha512/);
  const other = { ...spec, files: [{ ...spec.files[0], pathInTarball: 'package/elsewhere.so' }] };
  await assert.rejects(installProvider({ ortDir, cacheDir: work, tarball, spec: other }), /is not laid out like fake-gpu@0\.0\.1/);
  assert.deepEqual(installed(bin), ['libonnxruntime.so.1']);
});

test('refuses an onnxruntime-node of another release, by API and by command, naming the pin', async () => {
  const { ortDir, bin } = scratchOrt('1.30.0');
  await assert.rejects(installProvider({ ortDir, cacheDir: work, tarball, spec }), (e: Error & { code?: string }) =>
    e.code === 'BAD_CONFIG' && /onnxruntime-node is 1\.30\.0 .* Pin "onnxruntime-node": "1\.29\.0"/.test(e.message));
  const cli = await run(process.execPath, [join(ROOT, 'bin', 'gpu-install.js'), '--ort-dir', ortDir, '--tarball', tarball], { timeout: 60_000 })
    .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /^gpu-install: onnxruntime-node is 1\.30\.0 but the CUDA provider in com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9 is from onnxruntime 1\.29\.0/);
  assert.equal(cli.stderr.trim().split('\n').length, 1);
  assert.deepEqual(installed(bin), ['libonnxruntime.so.1']);
  assert.ok(!existsSync(join(bin, STAMP_FILE)));
});

test('the command refuses a tarball that is not the registry package', async () => {
  const { ortDir, bin } = scratchOrt(CUDA_PROVIDER.onnxruntime);
  const cli = await run(process.execPath, [join(ROOT, 'bin', 'gpu-install.js'), '--ort-dir', ortDir, '--tarball', tarball], { timeout: 60_000 })
    .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /is not com\.github\.asus4\.onnxruntime\.linux-x64-gpu@0\.4\.9: its sha512/);
  assert.deepEqual(installed(bin), ['libonnxruntime.so.1']);
});
