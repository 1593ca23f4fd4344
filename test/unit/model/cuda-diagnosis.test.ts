/** The pure CUDA diagnosis: library search over fake listings, provider and version checks, the verdict. */
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import {
  cudaVerdict, diagnose, exportLine, problemText, resolveLibraries, unavailableReason, type CudaFacts, type LibDir,
} from '../../../shared/model/cuda-diagnosis.ts';
import { CUDA_PROVIDER, CUDA_SONAMES, type ProviderStamp } from '../../../shared/model/gpu-provider.ts';

const BIN = '/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64';
const PY = '/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib';
const SYS = '/usr/lib/x86_64-linux-gnu';
const stamp = (v: string): ProviderStamp => ({ package: CUDA_PROVIDER.package, package_version: '0.4.9', onnxruntime_version: v, files: {}, installed_at: '2026-01-01T00:00:00Z' });
const providerFiles = ['libonnxruntime.so.1', 'onnxruntime_binding.node', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** A machine with everything in place; each test takes something away. */
function facts(over: Partial<CudaFacts> = {}): CudaFacts {
  return {
    platform: 'linux-x64',
    onnxruntimeVersion: '1.29.0',
    backends: [{ name: 'cpu', bundled: true }, { name: 'webgpu', bundled: true }, { name: 'cuda', bundled: false }],
    ortBin: { dir: BIN, files: providerFiles },
    stamp: stamp('1.29.0'),
    libDirs: [{ dir: SYS, files: ['libc.so.6', ...CUDA_SONAMES], onLoaderPath: true }],
    gpus: ['NVIDIA H200'],
    install: 'node bin/gpu-install.js',
    ...over,
  };
}

describe('resolveLibraries', () => {
  const dirs: LibDir[] = [
    { dir: PY, files: ['libcublas.so.13', 'libcudart.so.13'], onLoaderPath: false },
    { dir: SYS, files: ['libcudart.so.13', 'libcuda.so.1'], onLoaderPath: true },
  ];
  test('a folder on the loader path wins over one off it, whatever the order given', () => {
    const r = resolveLibraries(['libcudart.so.13', 'libcuda.so.1', 'libcublas.so.13', 'libcurand.so.10'], dirs);
    assert.deepEqual(Object.fromEntries(r.found), { 'libcudart.so.13': `${SYS}/libcudart.so.13`, 'libcuda.so.1': `${SYS}/libcuda.so.1` });
    assert.deepEqual(Object.fromEntries(r.offPath), { 'libcublas.so.13': `${PY}/libcublas.so.13` });
    assert.deepEqual(r.missing, ['libcurand.so.10']);
  });
  test('a name must match exactly (libcublas.so.12 is not libcublas.so.13)', () => {
    const r = resolveLibraries(['libcublas.so.13'], [{ dir: SYS, files: ['libcublas.so.12', 'libcublas.so'], onLoaderPath: true }]);
    assert.deepEqual(r.missing, ['libcublas.so.13']);
  });
});

describe('cudaVerdict and diagnose', () => {
  test('everything in place: try, usable, cuda among the providers', () => {
    assert.deepEqual(cudaVerdict(facts()), { type: 'try', gpuSeen: true });
    const d = diagnose(facts());
    assert.deepEqual(d.providers, ['cpu', 'webgpu', 'cuda']);
    assert.equal(d.cuda.provider_found, true);
    assert.equal(d.cuda.provider_version, '1.29.0');
    assert.equal(d.cuda.path, BIN);
    assert.deepEqual(d.cuda.missing, []);
    assert.equal(d.cuda.usable, true);
    assert.equal(d.cuda.reason, null);
    assert.equal(d.cuda.ld_library_path, null);
    assert.deepEqual(d.gpus, ['NVIDIA H200']);
  });

  test('a CPU machine: every reason, in one line, and cpu always a provider', () => {
    const f = facts({ onnxruntimeVersion: '1.30.0', ortBin: { dir: BIN, files: ['libonnxruntime.so.1'] }, stamp: undefined, libDirs: [], gpus: [], backends: [] });
    const v = cudaVerdict(f);
    assert.equal(v.type, 'unavailable');
    assert.deepEqual(v.type === 'unavailable' && v.problems.map((p) => p.kind), ['no-gpu', 'no-provider', 'missing-libraries']);
    const d = diagnose(f);
    assert.deepEqual(d.providers, ['cpu']);
    assert.equal(d.cuda.provider_found, false);
    assert.equal(d.cuda.provider_version, null);
    assert.equal(d.cuda.path, null);
    assert.deepEqual(d.cuda.missing, [...CUDA_SONAMES]);
    assert.equal(d.cuda.usable, false);
    assert.equal(d.cuda.reason, unavailableReason(v));
    assert.ok(!d.cuda.reason!.includes('\n'));
    assert.match(d.cuda.reason!, /^no NVIDIA GPU seen; no CUDA provider for onnxruntime 1\.30\.0 \(.*onnxruntime-node 1\.29\.0: pin that version, then node bin\/gpu-install\.js\); CUDA libraries not found: libcudart\.so\.13/);
  });

  test('a provider from another onnxruntime release is refused', () => {
    const v = cudaVerdict(facts({ stamp: stamp('1.28.1') }));
    assert.deepEqual(v, { type: 'unavailable', problems: [{ kind: 'version-mismatch', provider: '1.28.1', onnxruntime: '1.29.0', install: 'node bin/gpu-install.js' }] });
    assert.match(unavailableReason(v), /from onnxruntime 1\.28\.1 but onnxruntime-node is 1\.29\.0 \(reinstall: node bin\/gpu-install\.js\)/);
    assert.match(unavailableReason(cudaVerdict(facts({ onnxruntimeVersion: '1.30.0' }))), /onnxruntime-node is 1\.30\.0 \(pin onnxruntime-node 1\.29\.0\)/);
    assert.equal(diagnose(facts({ stamp: stamp('1.28.1') })).cuda.provider_version, '1.28.1');
  });

  test('provider files without a stamp (installed by other means): found, version unknown, still tried', () => {
    assert.deepEqual(cudaVerdict(facts({ stamp: undefined })), { type: 'try', gpuSeen: true });
    const d = diagnose(facts({ stamp: undefined }));
    assert.equal(d.cuda.provider_found, true);
    assert.equal(d.cuda.provider_version, null);
  });

  test('a stamp without the files is not a provider', () => {
    const d = diagnose(facts({ ortBin: { dir: BIN, files: ['libonnxruntime.so.1', 'libonnxruntime_providers_shared.so'] } }));
    assert.equal(d.cuda.provider_found, false);
    assert.equal(d.cuda.provider_version, null);
    assert.ok(!d.providers.includes('cuda'));
  });

  test('libraries only in a Python environment: found, but LD_LIBRARY_PATH must name their folders', () => {
    const f = facts({ libDirs: [
      { dir: '/usr/lib/x86_64-linux-gnu', files: ['libcuda.so.1'], onLoaderPath: true },
      { dir: PY, files: ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13'], onLoaderPath: false },
      { dir: '/opt/venv/lib/python3.12/site-packages/nvidia/curand/lib', files: ['libcurand.so.10'], onLoaderPath: false },
    ] });
    const v = cudaVerdict(f);
    assert.equal(v.type, 'unavailable');
    const d = diagnose(f);
    assert.deepEqual(d.cuda.missing, []);
    assert.equal(d.cuda.ld_library_path, `${PY}:/opt/venv/lib/python3.12/site-packages/nvidia/curand/lib`);
    assert.equal(d.cuda.libraries['libcublas.so.13'], `${PY}/libcublas.so.13`);
    assert.ok(d.cuda.reason!.includes(exportLine([PY, '/opt/venv/lib/python3.12/site-packages/nvidia/curand/lib'])), d.cuda.reason!);
  });

  test('no GPU seen does not stop a try (discovery can miss one) but is not "usable"', () => {
    assert.deepEqual(cudaVerdict(facts({ gpus: [] })), { type: 'try', gpuSeen: false });
    const d = diagnose(facts({ gpus: [] }));
    assert.equal(d.cuda.usable, false);
    assert.equal(d.cuda.reason, 'no NVIDIA GPU seen');
  });

  test('another platform: one reason', () => {
    assert.deepEqual(cudaVerdict(facts({ platform: 'darwin-arm64' })), { type: 'unavailable', problems: [{ kind: 'platform', platform: 'darwin-arm64' }] });
  });
});

test('problemText: the install command when versions agree, the pin when they do not', () => {
  assert.equal(problemText({ kind: 'no-provider', onnxruntime: '1.29.0', install: 'node bin/gpu-install.js' }),
    'no CUDA provider beside onnxruntime (install it: node bin/gpu-install.js)');
  assert.match(problemText({ kind: 'no-provider', onnxruntime: '1.30.0', install: 'X' }), /pin that version, then X/);
  assert.equal(exportLine(['/a', '/b']), 'export LD_LIBRARY_PATH=/a:/b${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}');
});
