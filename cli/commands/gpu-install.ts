/**
 * `node bin/gpu-install.js [--tarball FILE] [--cache-dir DIR] [--ort-dir DIR]`: installs the CUDA
 * execution provider beside onnxruntime-node's library (shared/model/gpu-install.ts). Opt-in: `npm ci`
 * downloads nothing for GPUs. Prints one `gpu_install_done` event; a refusal (onnxruntime-node of
 * another release, a tarball or file with the wrong hash) is one line on stderr and exit 2.
 * Written as a command (`run(argv)`), so that cli/main.ts can also list it as `swarmpath gpu-install`.
 */
import { join } from 'node:path';
import { helpText, parseFlags, type FlagSpecs } from '../../shared/cli-args.ts';
import { SwarmpathError } from '../../shared/errors.ts';
import { createLogger, emitEvent } from '../../shared/log.ts';
import { defaultOrtDir, REPO_ROOT } from '../../shared/model/cuda-facts.ts';
import { installProvider } from '../../shared/model/gpu-install.ts';

export const FLAGS = {
  tarball: { kind: 'string', help: 'the provider tarball, already on this machine (no registry access)' },
  'cache-dir': { kind: 'string', help: 'where npm pack keeps the tarball', default: join(REPO_ROOT, '.gpu-cache') },
  'ort-dir': { kind: 'string', help: 'the onnxruntime-node package folder to install into (default: the one swarmpath loads)' },
  help: { kind: 'boolean', help: 'show this help', default: false },
} as const satisfies FlagSpecs;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(helpText('node bin/gpu-install.js [--tarball FILE] [--cache-dir DIR] [--ort-dir DIR]', FLAGS));
    return 0;
  }
  const r = await installProvider({
    ortDir: flags['ort-dir'] ?? defaultOrtDir(), cacheDir: flags['cache-dir'], tarball: flags.tarball, log: createLogger('gpu-install'),
  });
  emitEvent('gpu_install_done', { ...r });
  return 0;
}

/** Runs the command as its own program: a SwarmpathError is one line and exit 2, anything else its stack and exit 1. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    const known = err instanceof SwarmpathError;
    process.stderr.write(`gpu-install: ${known ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    return known ? 2 : 1;
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) process.exitCode = await main(process.argv.slice(2));
