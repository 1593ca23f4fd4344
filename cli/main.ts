/**
 * Entry of the `swarmpath` command: dispatches to cli/commands/<name>.ts, each exporting
 * `run(argv): Promise<number | void>` (the exit code; long-running commands resolve when drained).
 * Errors of bad usage print one line naming what was wrong and exit 2.
 */
import { SwarmpathError } from '../shared/errors.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number | void> }> }> = {
  swarm: { summary: 'the whole network on one machine (npm start)', load: () => import('./commands/swarm.ts') },
  dht: { summary: 'a DHT-only node, the usual bootstrap peer', load: () => import('./commands/dht.ts') },
  host: { summary: 'serve experts to the swarm', load: () => import('./commands/host.ts') },
  router: { summary: 'the OpenAI-compatible inference API', load: () => import('./commands/router.ts') },
  ls: { summary: 'experts of the swarm and their hosts, from the DHT', load: () => import('./commands/ls.ts') },
  generate: { summary: 'a client of the API', load: () => import('./commands/generate.ts') },
  eval: { summary: "the model's quality table", load: () => import('./commands/eval.ts') },
  synth: { summary: 'a random-weight model package of any size', load: () => import('./commands/synth.ts') },
  bench: { summary: 'the benchmarks (npm run bench)', load: () => import('./commands/bench.ts') },
  doctor: { summary: 'what this machine can run (CPU, CUDA provider and libraries, GPUs)', load: () => import('./commands/doctor.ts') },
  'gpu-install': { summary: "onnxruntime's CUDA provider from the npm registry (opt-in; GPU hosts)", load: () => import('./commands/gpu-install.ts') },
};

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`usage: swarmpath <command> [flags]   (swarmpath <command> --help for its flags)\n\n` +
      Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.summary}`).join('\n') + '\n');
    return;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`swarmpath: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  watchSupervisor();
  try {
    const mod = await cmd.load();
    const code = await mod.run(rest);
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    if (err instanceof SwarmpathError && (err.code === 'BAD_CONFIG' || err.code === 'INVALID_ARGUMENT' || err.code === 'BAD_PACKAGE' || err.code === 'INTEGRITY')) {
      process.stderr.write(`swarmpath ${name}: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`swarmpath ${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

/**
 * A child of `swarmpath swarm` (spawned with an IPC channel and SWARMPATH_SUPERVISED=1) stops itself,
 * as on SIGTERM, when its supervisor goes away, even by SIGKILL: no orphaned hosts.
 */
function watchSupervisor(): void {
  if (process.env.SWARMPATH_SUPERVISED !== '1' || !process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main(process.argv.slice(2));
