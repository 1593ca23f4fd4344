/**
 * The CUDA execution provider that swarmpath installs beside onnxruntime-node's own library, as a
 * contract shared by the installer (gpu-install.ts), the diagnosis (cuda-diagnosis.ts) and
 * `swarmpath doctor`. Dependency-free: constants, types and one parser.
 *
 * onnxruntime-node bundles only the CPU (and WebGPU) providers; its postinstall would fetch the CUDA
 * one from NuGet, which this project cannot reach. The npm registry holds the same three provider
 * libraries, built by onnxruntime's release pipeline, in a Unity package. onnxruntime loads a
 * provider from the folder of its own libonnxruntime.so and only from the same release, so the
 * package's onnxruntime version must equal onnxruntime-node's (checked by the installer).
 */

/** One file taken from the package: where it is in the tarball, its sha256 (hex) and size (bytes). */
export interface ProviderFile {
  readonly name: string;
  readonly pathInTarball: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** A registry package that carries onnxruntime provider libraries. */
export interface ProviderSpec {
  /** npm package name and version (`npm pack NAME@VERSION`). */
  readonly package: string;
  readonly version: string;
  /** The onnxruntime release the libraries were built from: onnxruntime-node must be this version. */
  readonly onnxruntime: string;
  /** The tarball's Subresource-Integrity string as the registry publishes it (dist.integrity). */
  readonly integrity: string;
  readonly files: readonly ProviderFile[];
}

const DIR = 'package/Plugins/Linux/x64';

/**
 * com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9: onnxruntime 1.29.0, CUDA 13 (the provider needs
 * CUDA_SONAMES, no cuDNN). Hashes read from the registry's tarball (179 MB packed, 231 MB unpacked).
 */
export const CUDA_PROVIDER: ProviderSpec = Object.freeze({
  package: 'com.github.asus4.onnxruntime.linux-x64-gpu',
  version: '0.4.9',
  onnxruntime: '1.29.0',
  integrity: 'sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w==',
  files: Object.freeze([
    { name: 'libonnxruntime_providers_shared.so', pathInTarball: `${DIR}/libonnxruntime_providers_shared.so`, sha256: 'c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772', bytes: 14_632 },
    { name: 'libonnxruntime_providers_cuda.so', pathInTarball: `${DIR}/libonnxruntime_providers_cuda.so`, sha256: '56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037', bytes: 229_780_440 },
    { name: 'libonnxruntime_providers_tensorrt.so', pathInTarball: `${DIR}/libonnxruntime_providers_tensorrt.so`, sha256: 'ef6071798a339038ad66c428fb1a809cf8e499bffc3b6870e4e8bc4f4c6a6320', bytes: 859_144 },
  ]),
});

/** The file name of the tarball `npm pack` writes for a spec. */
export function tarballName(spec: Pick<ProviderSpec, 'package' | 'version'>): string {
  return `${spec.package.replace(/^@/, '').replace('/', '-')}-${spec.version}.tgz`;
}

/** The CUDA provider's own library: onnxruntime loads it from the folder of libonnxruntime.so. */
export const CUDA_PROVIDER_LIBRARY = 'libonnxruntime_providers_cuda.so';

/**
 * The CUDA libraries CUDA_PROVIDER's provider needs (ELF DT_NEEDED of its libonnxruntime_providers_cuda.so),
 * by soname. The diagnosis reads an installed provider's own list (another build, e.g. CUDA 12, needs others).
 */
export const CUDA_SONAMES: readonly string[] = Object.freeze([
  'libcudart.so.13', 'libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10', 'libcuda.so.1',
]);

/** The provider files that must be present for onnxruntime to load the CUDA provider. */
export const CUDA_PROVIDER_FILES: readonly string[] = Object.freeze(['libonnxruntime_providers_shared.so', CUDA_PROVIDER_LIBRARY]);

/** Written by the installer beside the files it installed, last (its presence means the copy completed). */
export const STAMP_FILE = 'swarmpath-gpu-provider.json';

export interface ProviderStamp {
  package: string;
  package_version: string;
  /** The onnxruntime release of the installed provider. */
  onnxruntime_version: string;
  /** File name → sha256 (hex) of what was installed. */
  files: Record<string, string>;
  installed_at: string;
}

/** Parses a stamp file's text; undefined when it is not one (a missing field, not JSON). */
export function parseStamp(text: string): ProviderStamp | undefined {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return undefined; }
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Partial<ProviderStamp>;
  const str = (x: unknown) => typeof x === 'string' && x !== '';
  if (!str(s.package) || !str(s.package_version) || !str(s.onnxruntime_version) || !str(s.installed_at)) return undefined;
  if (typeof s.files !== 'object' || s.files === null || !Object.values(s.files).every(str)) return undefined;
  return s as ProviderStamp;
}

/** The installer's path inside a checkout. */
export const INSTALL_SCRIPT = 'bin/gpu-install.js';

/**
 * The one command that installs the provider: relative to the checkout when run from its root,
 * else with the script's absolute path, so that it can be pasted as it is.
 */
export function installCommand(root: string, cwd: string): string {
  const rel = root.replace(/\/+$/, '') === cwd.replace(/\/+$/, '');
  return `node ${rel ? INSTALL_SCRIPT : `${root.replace(/\/+$/, '')}/${INSTALL_SCRIPT}`}`;
}
