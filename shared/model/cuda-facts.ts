/**
 * Gathers the facts cuda-diagnosis.ts decides on: onnxruntime-node's folder and version, the files
 * beside its libonnxruntime.so, the library folders the loader searches (LD_LIBRARY_PATH, the
 * ldconfig cache, the system folders) and some it does not (a Python environment's nvidia/* /lib,
 * CUDA toolkit and driver folders), and the NVIDIA GPUs seen. Reads files and runs `ldconfig -p`,
 * `python3` and `nvidia-smi -L` (each with a timeout); never throws: what cannot be read is absent.
 * The parsers are pure and exported for tests.
 */
import { execFile } from 'node:child_process';
import { open, readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CudaFacts, LibDir, OrtBackend } from './cuda-diagnosis.ts';
import { CUDA_PROVIDER_LIBRARY, installCommand, parseStamp, STAMP_FILE } from './gpu-provider.ts';

/** The I/O the gatherer uses; tests hand in fakes. Every call resolves undefined where the real one fails. */
export interface FactsIo {
  readdir(dir: string): Promise<string[] | undefined>;
  readFile(path: string): Promise<string | undefined>;
  /** stdout of a command that exited 0 within `timeoutMs`. */
  exec(cmd: string, args: readonly string[], timeoutMs: number): Promise<string | undefined>;
  /** `length` bytes of a file from `offset` (fewer at its end). */
  readRange(path: string, offset: number, length: number): Promise<Buffer | undefined>;
}

export const realIo: FactsIo = {
  readdir: (dir) => readdir(dir).catch(() => undefined),
  readFile: (path) => readFile(path, 'utf8').catch(() => undefined),
  exec: (cmd, args, timeoutMs) => new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout) => resolve(err ? undefined : stdout));
  }),
  async readRange(path, offset, length) {
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return undefined;
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } catch {
      return undefined;
    } finally {
      await fh.close();
    }
  },
};

/** The checkout's root (this file is shared/model/cuda-facts.ts). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The onnxruntime-node package folder this checkout loads. */
export function defaultOrtDir(): string {
  return dirname(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')));
}

/** Folders the glibc loader searches without being told (x86-64 Debian/Ubuntu and Fedora layouts). */
export const SYSTEM_LIB_DIRS: readonly string[] = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/** Where CUDA libraries often are without being on the loader path: toolkits and mounted drivers. */
export const OFF_PATH_LIB_DIRS: readonly string[] = [
  '/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/local/nvidia/lib64', '/usr/local/nvidia/lib',
];

export interface GatherOptions {
  /** onnxruntime-node's package folder (default: the one this checkout loads). */
  ortDir?: string;
  /** onnxruntime-node's listSupportedBackends() (default: cpu alone). */
  backends?: readonly OrtBackend[];
  env?: NodeJS.ProcessEnv;
  io?: FactsIo;
  /** The install command to report (default: installCommand for this checkout and cwd). */
  install?: string;
}

export async function gatherCudaFacts(o: GatherOptions = {}): Promise<CudaFacts> {
  const io = o.io ?? realIo;
  const env = o.env ?? process.env;
  const ortDir = o.ortDir ?? defaultOrtDir();
  const [pkg, ortBin, libDirs, gpus] = await Promise.all([
    io.readFile(join(ortDir, 'package.json')), findOrtBin(io, ortDir), findLibDirs(io, env), findGpus(io),
  ]);
  const stamp = ortBin ? await io.readFile(join(ortBin.dir, STAMP_FILE)) : undefined;
  const needed = ortBin?.files.includes(CUDA_PROVIDER_LIBRARY) ? await elfNeeded(io, join(ortBin.dir, CUDA_PROVIDER_LIBRARY)) : undefined;
  return {
    platform: `${process.platform}-${process.arch}`,
    onnxruntimeVersion: versionOf(pkg),
    backends: o.backends ?? [{ name: 'cpu', bundled: true }],
    ortBin,
    stamp: stamp === undefined ? undefined : parseStamp(stamp),
    cudaSonames: needed?.filter(isCudaLibrary),
    libDirs,
    gpus,
    install: o.install ?? installCommand(REPO_ROOT, process.cwd()),
  };
}

function versionOf(packageJson: string | undefined): string {
  try {
    const v = (JSON.parse(packageJson ?? '') as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The folder of onnxruntime's library for this platform, newest N-API version first. */
export async function findOrtBin(io: FactsIo, ortDir: string): Promise<{ dir: string; files: string[] } | undefined> {
  const napis = ((await io.readdir(join(ortDir, 'bin'))) ?? []).filter((d) => /^napi-v\d+$/.test(d))
    .sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)));
  for (const napi of napis) {
    const dir = join(ortDir, 'bin', napi, process.platform, process.arch);
    const files = await io.readdir(dir);
    if (files?.some(isOrtLibrary)) return { dir, files };
  }
  return undefined;
}

/** libonnxruntime.so, libonnxruntime.so.1, libonnxruntime.so.1.30.0 (not the providers). */
export function isOrtLibrary(name: string): boolean {
  return /^libonnxruntime\.so(\.\d+)*$/.test(name);
}

async function findLibDirs(io: FactsIo, env: NodeJS.ProcessEnv): Promise<LibDir[]> {
  const fromEnv = (env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== '');
  const [ldconfig, python] = await Promise.all([
    io.exec('ldconfig', ['-p'], 5_000).then((out) => out ?? io.exec('/sbin/ldconfig', ['-p'], 5_000)),
    pythonNvidiaLibDirs(io),
  ]);
  const listed = async (dirs: readonly string[], onLoaderPath: boolean) =>
    (await Promise.all(dirs.map(async (dir) => ({ dir, files: await io.readdir(dir), onLoaderPath }))))
      .filter((d): d is LibDir & { files: string[] } => d.files !== undefined);
  const all = [
    ...await listed(fromEnv, true),
    ...parseLdconfig(ldconfig ?? ''),
    ...await listed(SYSTEM_LIB_DIRS, true),
    ...await listed([...python, ...OFF_PATH_LIB_DIRS], false),
  ];
  return dedupeDirs(all);
}

/** Keeps each folder once, its first (highest-priority) entry; an ldconfig entry merges with a listing of the same folder. */
export function dedupeDirs(dirs: readonly LibDir[]): LibDir[] {
  const byDir = new Map<string, LibDir>();
  for (const d of dirs) {
    const key = d.dir.replace(/\/+$/, '');
    const seen = byDir.get(key);
    if (!seen) byDir.set(key, { ...d, dir: key });
    else if (seen.onLoaderPath === d.onLoaderPath) byDir.set(key, { ...seen, files: [...new Set([...seen.files, ...d.files])] });
    else if (d.onLoaderPath) byDir.set(key, { ...seen, onLoaderPath: true });
  }
  return [...byDir.values()];
}

/**
 * `ldconfig -p` → one LibDir per folder, holding the sonames cached for this architecture:
 * `\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1`.
 */
export function parseLdconfig(text: string, archTag = 'x86-64'): LibDir[] {
  const byDir = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+) \(([^)]*)\)(?: OS ABI: [^=]*)? => (\S+)\s*$/.exec(line);
    if (!m || !m[2].split(',').includes(archTag)) continue;
    const dir = m[3].slice(0, m[3].lastIndexOf('/'));
    byDir.set(dir, [...(byDir.get(dir) ?? []), m[1]]);
  }
  return [...byDir].map(([dir, files]) => ({ dir, files, onLoaderPath: true }));
}

/** The lib folders of the nvidia/* pip packages (nvidia/cu13/lib, nvidia/cublas/lib, …) of the python3 on PATH. */
async function pythonNvidiaLibDirs(io: FactsIo): Promise<string[]> {
  const out = await io.exec('python3', ['-c', 'import sys; print("\\n".join(p for p in sys.path if p))'], 5_000);
  const roots = [...new Set((out ?? '').split('\n').map((s) => s.trim()).filter((s) => s.startsWith('/')))];
  const dirs: string[] = [];
  for (const root of roots) {
    for (const pkg of (await io.readdir(join(root, 'nvidia'))) ?? []) {
      const lib = join(root, 'nvidia', pkg, 'lib');
      if ((await io.readdir(lib)) !== undefined) dirs.push(lib);
    }
  }
  return dirs;
}

/** A CUDA, cuDNN or TensorRT library (libcudart, libcublasLt, libcudnn, libnvinfer, …), not the C/C++ runtime. */
export function isCudaLibrary(soname: string): boolean {
  return /^lib(cu|nv)/.test(soname);
}

/**
 * The DT_NEEDED sonames of a 64-bit little-endian ELF shared library, read through its program
 * headers (a few KiB, not the 230 MB file); undefined when it is not one.
 */
export async function elfNeeded(io: Pick<FactsIo, 'readRange'>, path: string): Promise<string[] | undefined> {
  const h = await io.readRange(path, 0, 64);
  if (!h || h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return undefined;
  const phoff = Number(h.readBigUInt64LE(0x20));
  const phentsize = h.readUInt16LE(0x36);
  const phnum = h.readUInt16LE(0x38);
  const ph = await io.readRange(path, phoff, phentsize * phnum);
  if (!ph || ph.length < phentsize * phnum) return undefined;
  const segs = Array.from({ length: phnum }, (_, i) => {
    const o = i * phentsize;
    return { type: ph.readUInt32LE(o), offset: Number(ph.readBigUInt64LE(o + 8)), vaddr: Number(ph.readBigUInt64LE(o + 16)), filesz: Number(ph.readBigUInt64LE(o + 32)) };
  });
  const dyn = segs.find((s) => s.type === 2);
  const dt = dyn ? await io.readRange(path, dyn.offset, dyn.filesz) : undefined;
  if (!dt) return undefined;
  const needed: number[] = [];
  let strtab = -1;
  let strsz = 0;
  for (let o = 0; o + 16 <= dt.length; o += 16) {
    const tag = Number(dt.readBigInt64LE(o));
    const val = Number(dt.readBigUInt64LE(o + 8));
    if (tag === 0) break;
    if (tag === 1) needed.push(val);
    else if (tag === 5) strtab = val;
    else if (tag === 10) strsz = val;
  }
  const load = segs.find((s) => s.type === 1 && s.vaddr <= strtab && strtab < s.vaddr + s.filesz);
  const strs = load ? await io.readRange(path, strtab - load.vaddr + load.offset, strsz) : undefined;
  if (!strs) return undefined;
  return needed.map((at) => strs.toString('latin1', at, strs.indexOf(0, at) < 0 ? strs.length : strs.indexOf(0, at)));
}

/** NVIDIA GPUs: the driver's /proc entries, else `nvidia-smi -L`. */
async function findGpus(io: FactsIo): Promise<string[]> {
  const root = '/proc/driver/nvidia/gpus';
  const ids = (await io.readdir(root)) ?? [];
  const models = (await Promise.all(ids.sort().map((id) => io.readFile(join(root, id, 'information')))))
    .map((t) => (t === undefined ? undefined : parseGpuInformation(t)))
    .filter((m): m is string => m !== undefined);
  if (models.length > 0) return models;
  return parseNvidiaSmiList((await io.exec('nvidia-smi', ['-L'], 10_000)) ?? '');
}

/** The model name in /proc/driver/nvidia/gpus/ID/information (`Model: \t NVIDIA H200`). */
export function parseGpuInformation(text: string): string | undefined {
  const m = /^Model:\s*(.+?)\s*$/m.exec(text);
  return m ? m[1] : undefined;
}

/** `nvidia-smi -L`: `GPU 0: NVIDIA H200 (UUID: GPU-…)` → the model names. */
export function parseNvidiaSmiList(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^GPU \d+: (.+?)(?: \(UUID: [^)]*\))?\s*$/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}
