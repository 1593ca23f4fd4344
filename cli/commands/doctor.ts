/**
 * `swarmpath doctor [--json] [--ort-dir DIR]`: what this machine can run, for a volunteer deciding
 * what to host: onnxruntime-node's version and execution providers, whether the CUDA provider and
 * the CUDA libraries it needs are there (and the command that installs the provider, or the
 * LD_LIBRARY_PATH line that finds the libraries), and the NVIDIA GPUs seen. Decisions are in
 * shared/model/cuda-diagnosis.ts; `--json` prints its `Diagnosis` (SPEC section 7) as one line.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { helpText, parseFlags, type FlagSpecs } from '../../shared/cli-args.ts';
import { exportLine, type Diagnosis, type OrtBackend } from '../../shared/model/cuda-diagnosis.ts';

export const FLAGS = {
  json: { kind: 'boolean', help: 'print one JSON object', default: false },
  'ort-dir': { kind: 'string', help: 'an onnxruntime-node package folder to examine instead of the one swarmpath loads' },
  help: { kind: 'boolean', help: 'show this help', default: false },
} as const satisfies FlagSpecs;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(helpText('swarmpath doctor [--json] [--ort-dir DIR]', FLAGS));
    return 0;
  }
  const { gatherCudaFacts, defaultOrtDir } = await import('../../shared/model/cuda-facts.ts');
  const { diagnose } = await import('../../shared/model/cuda-diagnosis.ts');
  const ortDir = flags['ort-dir'] ?? defaultOrtDir();
  const d = diagnose(await gatherCudaFacts({ ortDir, backends: backendsOf(ortDir) }));
  process.stdout.write(flags.json ? JSON.stringify(d) + '\n' : formatDoctor(d));
  return 0;
}

/** onnxruntime-node's listSupportedBackends() of the package in `ortDir`; cpu alone when it does not load. */
function backendsOf(ortDir: string): OrtBackend[] {
  try {
    const ort = createRequire(join(ortDir, 'package.json'))(ortDir) as { listSupportedBackends?: () => OrtBackend[] };
    return ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  } catch {
    return [{ name: 'cpu', bundled: true }];
  }
}

/** The plain-text report: what runs here, and the next command to type. */
export function formatDoctor(d: Diagnosis): string {
  const c = d.cuda;
  const lines = [
    `onnxruntime-node ${d.onnxruntime_version}; execution providers: ${d.providers.join(', ')}`,
    `NVIDIA GPUs: ${d.gpus.length > 0 ? d.gpus.join(', ') : 'none seen'}`,
    `CUDA provider: ${c.provider_found ? `installed in ${c.path} (onnxruntime ${c.provider_version ?? 'version unknown'})` : `not installed (install: ${c.install})`}`,
  ];
  const found = Object.entries(c.libraries).map(([so, path]) => `  ${so.padEnd(18)} ${path}`);
  const missing = c.missing.map((so) => `  ${so.padEnd(18)} not found`);
  lines.push('CUDA libraries:', ...found, ...missing);
  if (c.ld_library_path !== null) lines.push(`  some are off the loader path; before starting a host: ${exportLine(c.ld_library_path.split(':'))}`);
  if (c.usable) {
    lines.push('', 'CUDA is usable: host with --device cuda, e.g.', '  swarmpath host --model DIR --auto --device cuda');
  } else {
    lines.push('', `CUDA is not usable here: ${c.reason}.`, 'This machine can host on the CPU, e.g.', '  swarmpath host --model DIR --auto');
  }
  return lines.join('\n') + '\n';
}
