/**
 * `swarmpath dht [--listen MA]… [--bootstrap MA]… [--key-file F] [--dht-max-connections N]`: a DHT-only node, the usual
 * bootstrap peer of a swarm. Prints the ready event on stdout, logs on stderr, and stops cleanly
 * (exit 0) on SIGTERM or SIGINT.
 */
import { parseFlags, helpText, type FlagSpecs } from '../../shared/cli-args.ts';
import { createLogger, emitEvent } from '../../shared/log.ts';
import { createSwarmNode } from '../../shared/dht/node.ts';
import { DEFAULT_MAX_CONNECTIONS, MIN_MAX_CONNECTIONS, connectionLimitsFor } from '../../shared/dht/connection-trim.ts';

export const FLAGS = {
  listen: { kind: 'list', help: 'multiaddr to listen on (repeatable)', default: ['/ip4/127.0.0.1/tcp/0'] },
  bootstrap: { kind: 'list', help: 'multiaddr of a peer to join through, with /p2p/<id> (repeatable)', env: 'SWARMPATH_BOOTSTRAP' },
  'key-file': { kind: 'string', help: 'keep the node identity in this file (created, mode 0600, on first run)' },
  'dht-max-connections': { kind: 'int', help: `libp2p connections held before idle ones are closed (down to two thirds; kad-dht's closest peers stay)`, default: DEFAULT_MAX_CONNECTIONS, min: MIN_MAX_CONNECTIONS },
  help: { kind: 'boolean', help: 'show this help' },
} as const satisfies FlagSpecs;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(helpText('swarmpath dht [--listen MA]… [--bootstrap MA]… [--key-file F] [--dht-max-connections N]', FLAGS));
    return 0;
  }
  const log = createLogger('dht');
  const node = await createSwarmNode({
    listen: flags.listen,
    bootstrap: flags.bootstrap ?? [],
    keyFile: flags['key-file'],
    connectionLimits: connectionLimitsFor(flags['dht-max-connections']),
    log,
  });
  // Handlers first: a signal that comes right after the ready line must not find the default action.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await node.start();
  emitEvent('ready', { role: 'dht', peerId: node.peerId, multiaddrs: node.multiaddrs() });
  const signal = await stopSignal;
  log.info('stopping', { signal });
  await Promise.race([node.stop(), new Promise((r) => setTimeout(r, 5_000).unref())]);
  exitSoon();
  return 0;
}

/**
 * libp2p leaves short timers behind after stop(); exit once main() has set the exit code instead
 * of lingering for them (unref'd: it fires only if something still holds the event loop).
 */
export function exitSoon(ms = 200): void {
  setTimeout(() => process.exit(), ms).unref();
}
