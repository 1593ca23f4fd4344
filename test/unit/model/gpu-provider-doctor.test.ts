/** The provider contract (stamp, install command, version refusal) and doctor's plain text. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatDoctor } from '../../../cli/commands/doctor.ts';
import { diagnose, type CudaFacts } from '../../../shared/model/cuda-diagnosis.ts';
import { CUDA_PROVIDER, CUDA_SONAMES, installCommand, parseStamp, tarballName } from '../../../shared/model/gpu-provider.ts';
import { compatibility } from '../../../shared/model/gpu-install.ts';

test('parseStamp accepts the installer stamp and nothing else', () => {
  const ok = { package: 'p', package_version: '1', onnxruntime_version: '1.29.0', files: { 'a.so': 'ff' }, installed_at: 't' };
  assert.deepEqual(parseStamp(JSON.stringify(ok)), ok);
  assert.equal(parseStamp('not json'), undefined);
  assert.equal(parseStamp('null'), undefined);
  assert.equal(parseStamp(JSON.stringify({ ...ok, onnxruntime_version: '' })), undefined);
  assert.equal(parseStamp(JSON.stringify({ ...ok, files: { a: 1 } })), undefined);
});

test('installCommand is relative from the checkout root, absolute elsewhere', () => {
  assert.equal(installCommand('/work/main', '/work/main'), 'node bin/gpu-install.js');
  assert.equal(installCommand('/work/main/', '/work/main'), 'node bin/gpu-install.js');
  assert.equal(installCommand('/work/main', '/home/me'), 'node /work/main/bin/gpu-install.js');
  assert.equal(tarballName(CUDA_PROVIDER), 'com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz');
  assert.equal(tarballName({ package: '@scope/name', version: '1.0.0' }), 'scope-name-1.0.0.tgz');
});

test('the installer refuses an onnxruntime-node of another release, naming the pin', () => {
  assert.deepEqual(compatibility('1.29.0', CUDA_PROVIDER, 'linux-x64'), { type: 'ok' });
  const r = compatibility('1.30.0', CUDA_PROVIDER, 'linux-x64');
  assert.equal(r.type, 'refuse');
  assert.match(r.type === 'refuse' ? r.message : '', /onnxruntime-node is 1\.30\.0 .* from onnxruntime 1\.29\.0.*Pin "onnxruntime-node": "1\.29\.0"/);
  assert.match(JSON.stringify(compatibility('1.29.0', CUDA_PROVIDER, 'darwin-arm64')), /built for linux-x64; this is darwin-arm64/);
});

const base: CudaFacts = {
  platform: 'linux-x64', onnxruntimeVersion: '1.29.0', backends: [{ name: 'cpu', bundled: true }],
  ortBin: { dir: '/o/bin', files: ['libonnxruntime.so.1'] }, libDirs: [], gpus: [], install: 'node bin/gpu-install.js',
};

test('doctor text on a CPU machine: the install command, what is missing, and the CPU host command', () => {
  const text = formatDoctor(diagnose(base));
  assert.match(text, /^onnxruntime-node 1\.29\.0; execution providers: cpu\n/);
  assert.match(text, /NVIDIA GPUs: none seen/);
  assert.match(text, /CUDA provider: not installed \(install: node bin\/gpu-install\.js\)/);
  for (const so of CUDA_SONAMES) assert.match(text, new RegExp(`  ${so.replace(/\./g, '\\.')} +not found`));
  assert.match(text, /CUDA is not usable here: no NVIDIA GPU seen; no CUDA provider/);
  assert.match(text, /swarmpath host --model DIR --auto\n$/);
  assert.ok(!text.includes('--device cuda'));
});

test('doctor text on a GPU machine whose libraries are in a Python environment: the export line', () => {
  const py = '/venv/site-packages/nvidia/cu13/lib';
  const text = formatDoctor(diagnose({
    ...base, gpus: ['NVIDIA H200'],
    ortBin: { dir: '/o/bin', files: ['libonnxruntime.so.1', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] },
    stamp: { package: 'p', package_version: '0.4.9', onnxruntime_version: '1.29.0', files: {}, installed_at: 't' },
    libDirs: [{ dir: '/usr/lib', files: ['libcuda.so.1'], onLoaderPath: true }, { dir: py, files: CUDA_SONAMES.filter((s) => s !== 'libcuda.so.1'), onLoaderPath: false }],
  }));
  assert.match(text, /execution providers: cpu, cuda/);
  assert.match(text, /CUDA provider: installed in \/o\/bin \(onnxruntime 1\.29\.0\)/);
  assert.match(text, /libcublas\.so\.13 +\/venv\/site-packages\/nvidia\/cu13\/lib\/libcublas\.so\.13/);
  assert.ok(text.includes(`before starting a host: export LD_LIBRARY_PATH=${py}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`), text);
  assert.match(text, /CUDA is not usable here: CUDA libraries .* off the loader path/);
});

test('doctor text when CUDA is usable: the --device cuda command', () => {
  const text = formatDoctor(diagnose({
    ...base, gpus: ['NVIDIA H200'],
    ortBin: { dir: '/o/bin', files: ['libonnxruntime.so.1', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] },
    libDirs: [{ dir: '/usr/lib', files: [...CUDA_SONAMES], onLoaderPath: true }],
  }));
  assert.match(text, /NVIDIA GPUs: NVIDIA H200/);
  assert.match(text, /\(onnxruntime version unknown\)/);
  assert.match(text, /CUDA is usable: host with --device cuda/);
  assert.match(text, /swarmpath host --model DIR --auto --device cuda\n$/);
});
