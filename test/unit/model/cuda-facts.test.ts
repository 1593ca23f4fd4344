/** Gathering the CUDA facts over a fake file system and fake commands; the parsers. */
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  dedupeDirs, defaultOrtDir, elfNeeded, findOrtBin, gatherCudaFacts, isCudaLibrary, isOrtLibrary, parseGpuInformation, parseLdconfig,
  parseNvidiaSmiList, realIo, type FactsIo,
} from '../../../shared/model/cuda-facts.ts';
import { diagnose } from '../../../shared/model/cuda-diagnosis.ts';
import { STAMP_FILE } from '../../../shared/model/gpu-provider.ts';

const LDCONFIG = `1234 libs found in cache \`/etc/ld.so.cache'
\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1
\tlibcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1
\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6
\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
`;

/** A minimal 64-bit little-endian ELF shared object whose DT_NEEDED entries are `needed`. */
function fakeElf(needed: readonly string[]): Buffer {
  const names = Buffer.from(`\0${needed.join('\0')}\0`, 'latin1');
  const strOff = 64 + 2 * 56;
  const dynOff = Math.ceil((strOff + names.length) / 8) * 8;
  const entries: [number, number][] = [];
  let at = 1;
  for (const n of needed) { entries.push([1, at]); at += n.length + 1; }
  entries.push([5, strOff], [10, names.length], [0, 0]);
  const b = Buffer.alloc(dynOff + entries.length * 16);
  b.writeUInt32BE(0x7f454c46, 0); b[4] = 2; b[5] = 1;
  b.writeBigUInt64LE(64n, 0x20); b.writeUInt16LE(56, 0x36); b.writeUInt16LE(2, 0x38);
  const ph = (i: number, type: number, off: number, size: number) => {
    const o = 64 + i * 56;
    b.writeUInt32LE(type, o); b.writeBigUInt64LE(BigInt(off), o + 8); b.writeBigUInt64LE(BigInt(off), o + 16); b.writeBigUInt64LE(BigInt(size), o + 32);
  };
  ph(0, 1, 0, b.length);
  ph(1, 2, dynOff, entries.length * 16);
  names.copy(b, strOff);
  entries.forEach(([tag, val], i) => { b.writeBigInt64LE(BigInt(tag), dynOff + 16 * i); b.writeBigUInt64LE(BigInt(val), dynOff + 16 * i + 8); });
  return b;
}

/** A fake machine: folders with file names, files with text or bytes, and command outputs. */
function fakeIo(m: { dirs: Record<string, string[]>; files?: Record<string, string>; bytes?: Record<string, Buffer>; exec?: Record<string, string> }): FactsIo & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    readRange: async (p, offset, length) => m.bytes?.[p]?.subarray(offset, offset + length),
    readdir: async (d) => m.dirs[d.replace(/\/+$/, '')]?.slice(),
    readFile: async (p) => m.files?.[p],
    exec: async (cmd) => { ran.push(cmd); return m.exec?.[cmd]; },
  };
}

const ORT = '/app/node_modules/onnxruntime-node';
const BIN = `${ORT}/bin/napi-v6/${process.platform}/${process.arch}`;
const SITE = '/opt/venv/lib/python3.12/site-packages';

describe('parsers', () => {
  test('ldconfig -p: this architecture only, grouped by folder', () => {
    assert.deepEqual(parseLdconfig(LDCONFIG), [
      { dir: '/usr/lib/x86_64-linux-gnu', files: ['libcuda.so.1'], onLoaderPath: true },
      { dir: '/lib/x86_64-linux-gnu', files: ['libc.so.6', 'libz.so.1'], onLoaderPath: true },
    ]);
    assert.deepEqual(parseLdconfig(''), []);
  });
  test('GPU names from the driver and from nvidia-smi', () => {
    assert.equal(parseGpuInformation('Model: \t\t NVIDIA H200\nIRQ:   \t\t 0\nGPU UUID: \t GPU-1\n'), 'NVIDIA H200');
    assert.equal(parseGpuInformation('nothing here'), undefined);
    assert.deepEqual(parseNvidiaSmiList('GPU 0: NVIDIA H200 (UUID: GPU-0a1b)\nGPU 1: NVIDIA A100-SXM4-80GB (UUID: GPU-2c)\n'), ['NVIDIA H200', 'NVIDIA A100-SXM4-80GB']);
    assert.deepEqual(parseNvidiaSmiList('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'), []);
  });
  test("onnxruntime's library, not its providers", () => {
    assert.ok(isOrtLibrary('libonnxruntime.so.1'));
    assert.ok(isOrtLibrary('libonnxruntime.so'));
    assert.ok(isOrtLibrary('libonnxruntime.so.1.29.0'));
    assert.ok(!isOrtLibrary('libonnxruntime_providers_cuda.so'));
  });
  test('dedupeDirs keeps the first entry of a folder and merges same-kind listings', () => {
    assert.deepEqual(dedupeDirs([
      { dir: '/a/', files: ['x'], onLoaderPath: true },
      { dir: '/a', files: ['y', 'x'], onLoaderPath: true },
      { dir: '/a', files: ['z'], onLoaderPath: false },
    ]), [{ dir: '/a', files: ['x', 'y'], onLoaderPath: true }]);
  });
});

describe('elfNeeded', () => {
  test('reads DT_NEEDED through the program headers', async () => {
    const elf = fakeElf(['libcublasLt.so.12', 'libcudnn.so.9', 'libstdc++.so.6', 'libc.so.6']);
    const io = { readRange: async (_p: string, o: number, n: number) => elf.subarray(o, o + n) };
    assert.deepEqual(await elfNeeded(io, 'x'), ['libcublasLt.so.12', 'libcudnn.so.9', 'libstdc++.so.6', 'libc.so.6']);
    assert.deepEqual((await elfNeeded(io, 'x'))!.filter(isCudaLibrary), ['libcublasLt.so.12', 'libcudnn.so.9']);
  });
  test("a real library: onnxruntime-node's binding needs libonnxruntime.so.1; a text file is no ELF", async () => {
    const bin = (await findOrtBin(realIo, defaultOrtDir()))!;
    assert.ok((await elfNeeded(realIo, join(bin.dir, 'onnxruntime_binding.node')))!.includes('libonnxruntime.so.1'));
    assert.equal(await elfNeeded(realIo, join(defaultOrtDir(), 'package.json')), undefined);
    assert.equal(await elfNeeded(realIo, '/nonexistent'), undefined);
  });
});

describe('gatherCudaFacts', () => {
  test('a CPU machine with CUDA libraries in a Python environment', async () => {
    const io = fakeIo({
      dirs: {
        [`${ORT}/bin`]: ['napi-v3', 'napi-v6'], [BIN]: ['libonnxruntime.so.1', 'onnxruntime_binding.node'], [`${ORT}/bin/napi-v3/${process.platform}/${process.arch}`]: [],
        '/usr/lib/x86_64-linux-gnu': ['libcuda.so.1', 'libc.so.6'],
        [`${SITE}/nvidia`]: ['cu13', 'curand', '__pycache__'],
        [`${SITE}/nvidia/cu13/lib`]: ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13'],
        [`${SITE}/nvidia/curand/lib`]: ['libcurand.so.10'],
        '/proc/driver/nvidia/gpus': ['0000:18:00.0'],
      },
      files: { [`${ORT}/package.json`]: '{"name":"onnxruntime-node","version":"1.29.0"}', '/proc/driver/nvidia/gpus/0000:18:00.0/information': 'Model: \t NVIDIA H200\n' },
      exec: { python3: `\n/opt/venv/lib/python312.zip\n${SITE}\n`, ldconfig: LDCONFIG },
    });
    const f = await gatherCudaFacts({ ortDir: ORT, io, env: { LD_LIBRARY_PATH: '/nowhere::/also/nowhere' }, install: 'INSTALL' });
    assert.equal(f.onnxruntimeVersion, '1.29.0');
    assert.deepEqual(f.ortBin, { dir: BIN, files: ['libonnxruntime.so.1', 'onnxruntime_binding.node'] });
    assert.equal(f.stamp, undefined);
    assert.deepEqual(f.gpus, ['NVIDIA H200']);
    assert.ok(!io.ran.includes('nvidia-smi'), 'the driver answered: nvidia-smi is not needed');
    const d = diagnose(f);
    assert.equal(d.cuda.provider_found, false);
    assert.deepEqual(d.cuda.missing, []);
    assert.equal(d.cuda.ld_library_path, `${SITE}/nvidia/cu13/lib:${SITE}/nvidia/curand/lib`);
    assert.equal(d.cuda.libraries['libcuda.so.1'], '/usr/lib/x86_64-linux-gnu/libcuda.so.1');
    assert.equal(d.cuda.install, 'INSTALL');
  });

  test('LD_LIBRARY_PATH puts the same folders on the loader path; nvidia-smi when the driver has no /proc entry; the stamp', async () => {
    const io = fakeIo({
      dirs: {
        [`${ORT}/bin`]: ['napi-v6'], [BIN]: ['libonnxruntime.so.1', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so', STAMP_FILE],
        [`${SITE}/nvidia`]: ['cu13'], [`${SITE}/nvidia/cu13/lib`]: ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10'],
      },
      files: {
        [`${ORT}/package.json`]: '{"version":"1.29.0"}',
        [`${BIN}/${STAMP_FILE}`]: JSON.stringify({ package: 'p', package_version: '0.4.9', onnxruntime_version: '1.29.0', files: { a: 'b' }, installed_at: 'now' }),
      },
      exec: { python3: SITE, ldconfig: LDCONFIG, 'nvidia-smi': 'GPU 0: NVIDIA H200 (UUID: GPU-x)\n' },
    });
    const d = diagnose(await gatherCudaFacts({ ortDir: ORT, io, env: { LD_LIBRARY_PATH: `${SITE}/nvidia/cu13/lib` }, install: 'I' }));
    assert.deepEqual(d.gpus, ['NVIDIA H200']);
    assert.equal(d.cuda.provider_found, true);
    assert.equal(d.cuda.provider_version, '1.29.0');
    assert.equal(d.cuda.ld_library_path, null);
    assert.deepEqual(d.cuda.missing, []);
    assert.equal(d.cuda.usable, true, d.cuda.reason ?? '');
  });

  test("another provider build (onnxruntime's own CUDA 12 download, no stamp): its own library list decides", async () => {
    const io = fakeIo({
      dirs: {
        [`${ORT}/bin`]: ['napi-v6'], [BIN]: ['libonnxruntime.so.1', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
        '/usr/local/cuda/lib64': ['libcublasLt.so.12', 'libcublas.so.12', 'libcudart.so.12'],
      },
      files: { [`${ORT}/package.json`]: '{"version":"1.30.0"}' },
      bytes: { [`${BIN}/libonnxruntime_providers_cuda.so`]: fakeElf(['libcublasLt.so.12', 'libcublas.so.12', 'libcudart.so.12', 'libcudnn.so.9', 'libc.so.6']) },
      exec: { 'nvidia-smi': 'GPU 0: NVIDIA L4 (UUID: GPU-1)' },
    });
    const f = await gatherCudaFacts({ ortDir: ORT, io, env: {}, install: 'I' });
    assert.deepEqual(f.cudaSonames, ['libcublasLt.so.12', 'libcublas.so.12', 'libcudart.so.12', 'libcudnn.so.9']);
    const d = diagnose(f);
    assert.equal(d.cuda.provider_found, true);
    assert.equal(d.cuda.provider_version, null);
    assert.deepEqual(d.cuda.missing, ['libcudnn.so.9']);
    assert.equal(d.cuda.ld_library_path, '/usr/local/cuda/lib64');
    assert.ok(!Object.keys(d.cuda.libraries).some((so) => so.endsWith('.so.13')));
  });

  test('nothing readable: unknown version, no folder, nothing found, no throw', async () => {
    const f = await gatherCudaFacts({ ortDir: '/none', io: fakeIo({ dirs: {} }), env: {}, install: 'I' });
    assert.equal(f.onnxruntimeVersion, 'unknown');
    assert.equal(f.ortBin, undefined);
    assert.deepEqual(f.gpus, []);
    assert.equal(await findOrtBin(fakeIo({ dirs: {} }), '/none'), undefined);
  });
});
