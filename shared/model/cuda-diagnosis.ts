/**
 * What this machine can run with onnxruntime-node, decided from facts gathered elsewhere
 * (cuda-facts.ts): pure functions, no I/O. `diagnose` gives `swarmpath doctor`'s JSON; `cudaVerdict`
 * says whether a CUDA session is worth trying, and `unavailableReason` is the one line a host prints
 * when it serves on the CPU instead.
 *
 * Library search follows the dynamic loader: a library the CUDA provider needs resolves only from
 * folders on the loader's path when the process started (LD_LIBRARY_PATH, the ldconfig cache, the
 * system folders). Folders off that path (a Python environment's nvidia/* packages, a CUDA toolkit
 * not in ld.so.conf) count as "found, but LD_LIBRARY_PATH must name them before the start".
 */
import { CUDA_PROVIDER, CUDA_PROVIDER_FILES, CUDA_SONAMES, type ProviderStamp } from './gpu-provider.ts';

/** A folder searched for libraries, with the file names in it. */
export interface LibDir {
  readonly dir: string;
  readonly files: readonly string[];
  /** True when the dynamic loader searches it (LD_LIBRARY_PATH, ldconfig cache, system folders). */
  readonly onLoaderPath: boolean;
}

export interface OrtBackend { readonly name: string; readonly bundled: boolean }

/** Everything the decisions need, gathered by cuda-facts.ts (or written by a test). */
export interface CudaFacts {
  /** `${process.platform}-${process.arch}`, e.g. linux-x64. */
  readonly platform: string;
  readonly onnxruntimeVersion: string;
  /** onnxruntime-node's listSupportedBackends(). */
  readonly backends: readonly OrtBackend[];
  /** The folder of the libonnxruntime.so that onnxruntime-node loads, and its file names. */
  readonly ortBin?: { readonly dir: string; readonly files: readonly string[] };
  /** The installer's stamp in that folder, if any. */
  readonly stamp?: ProviderStamp;
  /** The CUDA libraries the installed provider needs (its ELF DT_NEEDED); default CUDA_SONAMES, the registry provider's. */
  readonly cudaSonames?: readonly string[];
  /** Folders to search, in the loader's order first (then the others). */
  readonly libDirs: readonly LibDir[];
  /** NVIDIA GPUs seen (model names). */
  readonly gpus: readonly string[];
  /** The command that installs the provider. */
  readonly install: string;
}

/** Why CUDA cannot be used. */
export type CudaProblem =
  | { kind: 'platform'; platform: string }
  | { kind: 'no-provider'; onnxruntime: string; install: string }
  | { kind: 'version-mismatch'; provider: string; onnxruntime: string; install: string }
  | { kind: 'missing-libraries'; sonames: readonly string[] }
  | { kind: 'off-loader-path'; sonames: readonly string[]; dirs: readonly string[] }
  | { kind: 'no-gpu' };

/** `try`: nothing known is missing (onnxruntime may still fail, e.g. with no GPU seen); `unavailable`: it cannot work. */
export type CudaVerdict =
  | { type: 'try'; gpuSeen: boolean }
  | { type: 'unavailable'; problems: readonly CudaProblem[] };

/** `swarmpath doctor --json` (SPEC section 7). */
export interface Diagnosis {
  onnxruntime_version: string;
  /** Execution providers onnxruntime-node can use here: its bundled ones, plus cuda once installed. `cpu` always. */
  providers: string[];
  cuda: {
    provider_found: boolean;
    /** The onnxruntime release of the installed provider (from the installer's stamp); null when unknown. */
    provider_version: string | null;
    /** The folder holding the provider (onnxruntime's own), null when not found. */
    path: string | null;
    /** Sonames of the CUDA libraries found nowhere. */
    missing: string[];
    install: string;
    /** Soname → path of the CUDA libraries found. */
    libraries: Record<string, string>;
    /** Folders LD_LIBRARY_PATH must add (before the process starts) for libraries found off the loader path. */
    ld_library_path: string | null;
    usable: boolean;
    /** Why not usable (one line), null when usable. */
    reason: string | null;
  };
  gpus: string[];
}

/** Where each soname resolves: on the loader path, only off it, or nowhere. */
export function resolveLibraries(sonames: readonly string[], dirs: readonly LibDir[]):
  { found: Map<string, string>; offPath: Map<string, string>; missing: string[] } {
  const found = new Map<string, string>();
  const offPath = new Map<string, string>();
  const missing: string[] = [];
  const ordered = [...dirs.filter((d) => d.onLoaderPath), ...dirs.filter((d) => !d.onLoaderPath)];
  for (const so of sonames) {
    const hit = ordered.find((d) => d.files.includes(so));
    if (!hit) missing.push(so);
    else (hit.onLoaderPath ? found : offPath).set(so, `${hit.dir}/${so}`);
  }
  return { found, offPath, missing };
}

/** True when the provider's libraries are beside onnxruntime's. */
export function providerFound(f: Pick<CudaFacts, 'ortBin'>): boolean {
  return f.ortBin !== undefined && CUDA_PROVIDER_FILES.every((n) => f.ortBin!.files.includes(n));
}

/** Decides whether a CUDA session is worth trying, and if not, every reason. */
export function cudaVerdict(f: CudaFacts): CudaVerdict {
  if (f.platform !== 'linux-x64') return { type: 'unavailable', problems: [{ kind: 'platform', platform: f.platform }] };
  const problems: CudaProblem[] = [];
  if (f.gpus.length === 0) problems.push({ kind: 'no-gpu' });
  const found = providerFound(f);
  const version = found ? f.stamp?.onnxruntime_version : undefined;
  if (!found) problems.push({ kind: 'no-provider', onnxruntime: f.onnxruntimeVersion, install: f.install });
  else if (version !== undefined && version !== f.onnxruntimeVersion) {
    problems.push({ kind: 'version-mismatch', provider: version, onnxruntime: f.onnxruntimeVersion, install: f.install });
  }
  const libs = resolveLibraries(f.cudaSonames ?? CUDA_SONAMES, f.libDirs);
  if (libs.missing.length > 0) problems.push({ kind: 'missing-libraries', sonames: libs.missing });
  if (libs.offPath.size > 0) problems.push({ kind: 'off-loader-path', sonames: [...libs.offPath.keys()], dirs: dirsOf(libs.offPath) });
  // Seeing no GPU alone does not stop a try: GPU discovery can miss one (a sandbox without /proc/driver/nvidia).
  const blocking = problems.filter((p) => p.kind !== 'no-gpu');
  return blocking.length > 0 ? { type: 'unavailable', problems } : { type: 'try', gpuSeen: f.gpus.length > 0 };
}

function dirsOf(paths: ReadonlyMap<string, string>): string[] {
  return [...new Set([...paths.values()].map((p) => p.slice(0, p.lastIndexOf('/'))))];
}

/** The shell line that puts `dirs` first on the loader path, keeping what was there. */
export function exportLine(dirs: readonly string[]): string {
  return `export LD_LIBRARY_PATH=${dirs.join(':')}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`;
}

/** One problem, for people. */
export function problemText(p: CudaProblem): string {
  switch (p.kind) {
    case 'platform': return `the CUDA provider is built for linux-x64, this is ${p.platform}`;
    case 'no-gpu': return 'no NVIDIA GPU seen';
    case 'no-provider': return p.onnxruntime === CUDA_PROVIDER.onnxruntime
      ? `no CUDA provider beside onnxruntime (install it: ${p.install})`
      : `no CUDA provider for onnxruntime ${p.onnxruntime} (the registry's provider is built for onnxruntime-node ${CUDA_PROVIDER.onnxruntime}: pin that version, then ${p.install})`;
    case 'version-mismatch': return `the installed CUDA provider is from onnxruntime ${p.provider} but onnxruntime-node is ${p.onnxruntime}` +
      (p.onnxruntime === CUDA_PROVIDER.onnxruntime ? ` (reinstall: ${p.install})` : ` (pin onnxruntime-node ${CUDA_PROVIDER.onnxruntime})`);
    case 'missing-libraries': return `CUDA libraries not found: ${p.sonames.join(', ')}`;
    case 'off-loader-path': return `CUDA libraries ${p.sonames.join(', ')} are in ${p.dirs.join(', ')}, off the loader path: ${exportLine(p.dirs)} before starting`;
  }
}

/** The one line a host prints when `--device cuda` runs on the CPU. */
export function unavailableReason(v: CudaVerdict): string {
  return v.type === 'unavailable' ? v.problems.map(problemText).join('; ') : (v.gpuSeen ? 'CUDA looks usable' : 'no NVIDIA GPU seen');
}

/** `swarmpath doctor --json`. */
export function diagnose(f: CudaFacts): Diagnosis {
  const found = providerFound(f);
  const libs = resolveLibraries(f.cudaSonames ?? CUDA_SONAMES, f.libDirs);
  const verdict = cudaVerdict(f);
  const usable = verdict.type === 'try' && verdict.gpuSeen;
  const providers = f.backends.filter((b) => b.bundled).map((b) => b.name);
  if (!providers.includes('cpu')) providers.unshift('cpu');
  if (found && !providers.includes('cuda')) providers.push('cuda');
  return {
    onnxruntime_version: f.onnxruntimeVersion,
    providers,
    cuda: {
      provider_found: found,
      provider_version: found ? f.stamp?.onnxruntime_version ?? null : null,
      path: found ? f.ortBin!.dir : null,
      missing: libs.missing,
      install: f.install,
      libraries: Object.fromEntries([...libs.found, ...libs.offPath]),
      ld_library_path: libs.offPath.size > 0 ? dirsOf(libs.offPath).join(':') : null,
      usable,
      reason: usable ? null : unavailableReason(verdict),
    },
    gpus: [...f.gpus],
  };
}
