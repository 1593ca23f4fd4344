/** `swarmpath doctor` as a process: the JSON keys of SPEC section 7, and the plain text. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultOrtDir, findOrtBin, realIo } from '../../../shared/model/cuda-facts.ts';
import type { Diagnosis } from '../../../shared/model/cuda-diagnosis.ts';

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '..', '..', '..', 'cli', 'main.ts');

test('doctor --json: onnxruntime version, providers with cpu, the cuda section, gpus', async () => {
  const { stdout } = await run(process.execPath, [MAIN, 'doctor', '--json'], { timeout: 60_000 });
  assert.equal(stdout.trim().split('\n').length, 1, 'one JSON line');
  const d = JSON.parse(stdout) as Diagnosis;
  assert.deepEqual(Object.keys(d).sort(), ['cuda', 'gpus', 'onnxruntime_version', 'providers']);
  assert.deepEqual(Object.keys(d.cuda).sort(), ['install', 'ld_library_path', 'libraries', 'missing', 'path', 'provider_found', 'provider_version', 'reason', 'usable']);
  assert.match(d.onnxruntime_version, /^\d+\.\d+\.\d+/);
  assert.ok(d.providers.includes('cpu'));
  assert.ok(Array.isArray(d.gpus) && Array.isArray(d.cuda.missing));
  assert.match(d.cuda.install, /^node (\S+\/)?bin\/gpu-install\.js$/);
  // This checkout's onnxruntime-node has no CUDA provider unless someone ran the installer into it.
  const bin = await findOrtBin(realIo, defaultOrtDir());
  const installed = bin !== undefined && existsSync(join(bin.dir, 'libonnxruntime_providers_cuda.so'));
  assert.equal(d.cuda.provider_found, installed);
  if (!installed) {
    assert.equal(d.cuda.provider_version, null);
    assert.equal(d.cuda.path, null);
    assert.equal(d.cuda.usable, false);
    assert.ok(!d.providers.includes('cuda'));
  }
  if (!d.cuda.usable) assert.ok(d.cuda.reason && !d.cuda.reason.includes('\n'));
});

test('doctor without --json: a report for people, ending with the host command to run', async () => {
  const { stdout } = await run(process.execPath, [MAIN, 'doctor'], { timeout: 60_000 });
  assert.match(stdout, /^onnxruntime-node \S+; execution providers: cpu/);
  assert.match(stdout, /CUDA provider: /);
  assert.match(stdout, /swarmpath host --model DIR --auto( --device cuda)?\n$/);
});
