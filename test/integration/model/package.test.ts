/** loadPackage / verifyFile on real files: corrupted bytes, wrong sha256, missing file, malformed manifest. */
import { onTestFinished, test } from 'vitest';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadPackageError, IntegrityError, UnknownExpertError } from '../../../shared/errors.ts';
import { allFileRefs, loadPackage, verifyFile } from '../../../shared/model/package.ts';
import { openExpert } from '../../../shared/model/ort.ts';
import { synthFixture } from '../../helpers/synth-fixture.ts';

async function copy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmpath-pkg-'));
  await cp(await synthFixture({ heldout: 6, dense: true }), dir, { recursive: true });
  return dir;
}

test('a synth package loads and every file verifies', async () => {
  const pkg = await loadPackage(await synthFixture({ heldout: 6, dense: true }), { verifyAll: true });
  assert.equal(allFileRefs(pkg.manifest).length, 2 + 4 + 4);
  assert.equal(pkg.expert('L1.1').id, 'L1.1');
  assert.throws(() => pkg.expert('L9.0'), UnknownExpertError);
  assert.throws(() => pkg.filePath('../x'), BadPackageError);
});

test('refusals name the file or field', async () => {
  const dir = await copy();
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));

  // Corrupted shard bytes (same size): IntegrityError naming the file, at open.
  const shard = join(dir, 'experts/L0.1.onnx');
  const bytes = await readFile(shard);
  bytes[bytes.length - 5] ^= 0xff;
  await writeFile(shard, bytes);
  const pkg = await loadPackage(dir);
  await assert.rejects(openExpert(pkg, 'L0.1'), (e: unknown) => e instanceof IntegrityError && /experts\/L0\.1\.onnx has sha256 [0-9a-f]{64}, manifest says/.test(e.message));
  // Other experts still open: only used files are checked.
  await (await openExpert(pkg, 'L0.0')).release();

  // Truncated file: size mismatch.
  await writeFile(shard, bytes.subarray(0, 100));
  await assert.rejects(verifyFile(pkg, pkg.expert('L0.1')), (e: unknown) => e instanceof IntegrityError && /experts\/L0\.1\.onnx has 100 bytes, manifest says \d+/.test(e.message));

  // Missing file.
  await unlink(join(dir, 'experts/L1.0.onnx'));
  await assert.rejects(openExpert(pkg, 'L1.0'), (e: unknown) => e instanceof BadPackageError && /file experts\/L1\.0\.onnx is missing/.test(e.message));
  await assert.rejects(loadPackage(dir, { verifyAll: true }), /experts\/L0\.1\.onnx|experts\/L1\.0\.onnx/);

  // Wrong sha256 in the manifest.
  const m2 = structuredClone(manifest);
  m2.stem.sha256 = '0'.repeat(64);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m2));
  await assert.rejects(verifyFile(await loadPackage(dir), (await loadPackage(dir)).manifest.stem), (e: unknown) => e instanceof IntegrityError && /stem\.onnx has sha256 .* manifest says 0{64}/.test(e.message));

  // Malformed manifest: not JSON, and a schema violation.
  await writeFile(join(dir, 'manifest.json'), '{"format": ');
  await assert.rejects(loadPackage(dir), (e: unknown) => e instanceof BadPackageError && /manifest\.json is not valid JSON/.test(e.message));
  const m3 = structuredClone(manifest);
  m3.levels[1].experts[0].probe.tokens = 0;
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m3));
  await assert.rejects(loadPackage(dir), (e: unknown) => e instanceof BadPackageError && /levels\[1\]\.experts\[0\]\.probe\.tokens/.test(e.message));

  // No manifest at all.
  await unlink(join(dir, 'manifest.json'));
  await assert.rejects(loadPackage(dir), (e: unknown) => e instanceof BadPackageError && /cannot read .*manifest\.json/.test(e.message));
});
