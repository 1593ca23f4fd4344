/**
 * Installs onnxruntime's CUDA provider libraries beside the libonnxruntime.so that onnxruntime-node
 * loads (onnxruntime looks for providers in that folder only). The libraries come from a registry
 * tarball (gpu-provider.ts): fetched once with `npm pack` into a cache folder, or given as a file
 * for machines that cannot reach the registry.
 *
 * Safety: the onnxruntime-node version must equal the provider's onnxruntime release (a provider of
 * another release may crash the process); the tarball must match the registry's sha512 and every
 * copied file its recorded sha256, checked before anything lands. Files are extracted into a
 * temporary folder inside the target folder and renamed into place (same file system, so each file
 * appears whole); the stamp file is written last, so its presence means a completed install.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadConfigError, IntegrityError, UnavailableError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import { findOrtBin, realIo } from './cuda-facts.ts';
import { CUDA_PROVIDER, STAMP_FILE, tarballName, type ProviderSpec, type ProviderStamp } from './gpu-provider.ts';

export interface InstallOptions {
  /** The onnxruntime-node package folder to install into. */
  ortDir: string;
  /** Where `npm pack` keeps the tarball between runs. */
  cacheDir: string;
  /** A tarball already on this machine (no registry access needed). */
  tarball?: string;
  spec?: ProviderSpec;
  /** The npm command (default `npm`). */
  npm?: string;
  log?: Logger;
  /** Milliseconds allowed to `npm pack` and to `tar` (defaults 15 and 5 minutes). */
  fetchTimeoutMs?: number;
  extractTimeoutMs?: number;
}

export interface InstallResult {
  dir: string;
  onnxruntime_version: string;
  files: { name: string; sha256: string; bytes: number }[];
  tarball: string;
  tarball_bytes: number;
  /** Null when the tarball was already there. */
  download_ms: number | null;
  total_ms: number;
}

/** Refuses an onnxruntime-node whose version is not the provider's release, naming the fix. */
export function compatibility(ortVersion: string, spec: ProviderSpec, platform: string):
  { type: 'ok' } | { type: 'refuse'; message: string } {
  if (platform !== 'linux-x64') return { type: 'refuse', message: `the CUDA provider ${spec.package}@${spec.version} is built for linux-x64; this is ${platform}` };
  if (ortVersion === spec.onnxruntime) return { type: 'ok' };
  return {
    type: 'refuse',
    message: `onnxruntime-node is ${ortVersion} but the CUDA provider in ${spec.package}@${spec.version} is from onnxruntime ` +
      `${spec.onnxruntime}, and onnxruntime loads a provider only from its own release. Pin "onnxruntime-node": "${spec.onnxruntime}" ` +
      'in package.json, run npm install, then run this again',
  };
}

export async function installProvider(o: InstallOptions): Promise<InstallResult> {
  const t0 = performance.now();
  const spec = o.spec ?? CUDA_PROVIDER;
  const log = o.log ?? silentLogger;
  const ortVersion = await packageVersion(o.ortDir);
  const verdict = compatibility(ortVersion, spec, `${process.platform}-${process.arch}`);
  if (verdict.type === 'refuse') throw new BadConfigError(verdict.message);
  const bin = await findOrtBin(realIo, o.ortDir);
  if (!bin) throw new BadConfigError(`no libonnxruntime.so under ${o.ortDir}/bin/napi-v*/${process.platform}/${process.arch}: is ${o.ortDir} onnxruntime-node?`);

  let tarball = o.tarball;
  let downloadMs: number | null = null;
  if (tarball === undefined) {
    tarball = join(o.cacheDir, tarballName(spec));
    if (!existsSync(tarball)) {
      log.info(`fetching ${spec.package}@${spec.version} with npm pack into ${o.cacheDir}`);
      const t = performance.now();
      await mkdir(o.cacheDir, { recursive: true });
      await run(o.npm ?? 'npm', ['pack', `${spec.package}@${spec.version}`, '--pack-destination', o.cacheDir, '--silent'], o.cacheDir,
        o.fetchTimeoutMs ?? 15 * 60_000, (m) => new UnavailableError(`cannot fetch the provider (or give --tarball FILE): ${m}`));
      downloadMs = Math.round(performance.now() - t);
    }
  }
  if (!existsSync(tarball)) throw new BadConfigError(`tarball ${tarball} does not exist`);
  const tarballBytes = (await stat(tarball)).size;
  const integrity = `sha512-${(await hashFile(tarball, 'sha512')).toString('base64')}`;
  if (integrity !== spec.integrity) {
    throw new IntegrityError(`${tarball} is not ${spec.package}@${spec.version}: its sha512 is ${integrity}, the registry's ${spec.integrity}`);
  }

  const tmp = await mkdtemp(join(bin.dir, '.gpu-install-'));
  try {
    log.info(`extracting ${spec.files.map((f) => f.name).join(', ')} from ${tarball}`);
    await run('tar', ['-xzf', tarball, '-C', tmp, '--no-same-owner', ...spec.files.map((f) => f.pathInTarball)], tmp,
      o.extractTimeoutMs ?? 5 * 60_000, (m) => new IntegrityError(`${tarball} is not laid out like ${spec.package}@${spec.version}: ${m}`));
    for (const f of spec.files) {
      const got = (await hashFile(join(tmp, f.pathInTarball), 'sha256')).toString('hex');
      if (got !== f.sha256) throw new IntegrityError(`${f.pathInTarball} in ${tarball} has sha256 ${got}, expected ${f.sha256}: not installed`);
    }
    // The old stamp goes first: until the new one is written, no version is claimed.
    await rm(join(bin.dir, STAMP_FILE), { force: true });
    for (const f of spec.files) {
      await chmod(join(tmp, f.pathInTarball), 0o755);
      await rename(join(tmp, f.pathInTarball), join(bin.dir, f.name));
    }
    const stamp: ProviderStamp = {
      package: spec.package, package_version: spec.version, onnxruntime_version: spec.onnxruntime,
      files: Object.fromEntries(spec.files.map((f) => [f.name, f.sha256])), installed_at: new Date().toISOString(),
    };
    await writeFile(join(tmp, STAMP_FILE), JSON.stringify(stamp, null, 2) + '\n');
    await rename(join(tmp, STAMP_FILE), join(bin.dir, STAMP_FILE));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  log.info(`installed the CUDA provider (onnxruntime ${spec.onnxruntime}) in ${bin.dir}`);
  return {
    dir: bin.dir, onnxruntime_version: spec.onnxruntime,
    files: spec.files.map((f) => ({ name: f.name, sha256: f.sha256, bytes: f.bytes })),
    tarball, tarball_bytes: tarballBytes, download_ms: downloadMs, total_ms: Math.round(performance.now() - t0),
  };
}

async function packageVersion(ortDir: string): Promise<string> {
  const text = await realIo.readFile(join(ortDir, 'package.json'));
  const v = text === undefined ? undefined : (JSON.parse(text) as { name?: unknown; version?: unknown });
  if (v?.name !== 'onnxruntime-node' || typeof v.version !== 'string') throw new BadConfigError(`${ortDir} is not an onnxruntime-node package folder`);
  return v.version;
}

/** The digest of a file, streamed (the CUDA provider is 230 MB). */
export function hashFile(path: string, algorithm: 'sha256' | 'sha512'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const h = createHash(algorithm);
    createReadStream(path).on('error', reject).on('data', (c) => h.update(c)).on('end', () => resolve(h.digest()));
  });
}

function run(cmd: string, args: readonly string[], cwd: string, timeoutMs: number, fail: (message: string) => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { cwd, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, _out, stderr) => {
      if (!err) return resolve();
      const why = err.killed ? `timed out after ${Math.round(timeoutMs / 1000)} s` : (stderr.trim().split('\n').slice(-3).join(' / ') || err.message);
      reject(fail(`${cmd} ${args.slice(0, 2).join(' ')} failed: ${why}`));
    });
  });
}
