/**
 * `swarmpath ls [--bootstrap MA]… [--json] [--model DIR] [--timeout S]`: the experts of the swarm and
 * the live hosts serving each, as found in the DHT. `--json` prints the shape of `GET /v1/swarm`
 * (shared/dht/listing.ts); `--model DIR` also lists that model's experts that have no host. Beyond the
 * hosts its searches name (at most 32 a search), it lists those the hosts found know of (learnAround).
 * When not one DHT search answered within `--timeout` (the swarm was not reached), it lists nothing,
 * says why on stderr and exits 1: "no hosts" is a listing of a swarm that answered.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseFlags, helpText, type FlagSpecs } from '../../shared/cli-args.ts';
import { BadConfigError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import type { HostRecord } from '../../shared/transport-types.ts';
import { createSwarmNode } from '../../shared/dht/node.ts';
import { createDiscovery } from '../../shared/dht/discovery.ts';
import { exitSoon } from './dht.ts';
import { modelsByHosts, swarmListing, type SwarmListing } from '../../shared/dht/listing.ts';
import { learnAround } from '../../shared/dht/first-view.ts';

export const FLAGS = {
  bootstrap: { kind: 'list', help: 'multiaddr of a swarm peer, with /p2p/<id> (repeatable)', env: 'SWARMPATH_BOOTSTRAP' },
  json: { kind: 'boolean', help: 'print JSON (the shape of GET /v1/swarm)' },
  model: { kind: 'string', help: 'model package folder: list only its experts, including those with no host' },
  timeout: { kind: 'number', help: 'seconds to search the DHT', default: 5, min: 0.5, max: 600 },
  help: { kind: 'boolean', help: 'show this help' },
} as const satisfies FlagSpecs;

export async function run(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    process.stdout.write(helpText('swarmpath ls [--bootstrap MA]… [--json] [--model DIR] [--timeout S]', FLAGS));
    return 0;
  }
  const bootstrap = flags.bootstrap ?? [];
  if (bootstrap.length === 0) throw new BadConfigError('--bootstrap MA (or SWARMPATH_BOOTSTRAP) is required: the multiaddr of a swarm peer');
  const manifest = flags.model === undefined ? undefined : await readModel(flags.model);
  const timeoutMs = flags.timeout * 1000;
  const log = createLogger('ls');
  const node = await createSwarmNode({ bootstrap, clientMode: true, log });
  let found: { records: HostRecord[]; answered: number };
  let connected: number;
  try {
    await node.start();
    found = await findHosts(node, manifest, timeoutMs, log);
    connected = node.libp2p.getConnections().length;
  } finally {
    await Promise.race([node.stop(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    exitSoon();
  }
  // Not one search answered: the swarm was not reached, which is not "no hosts" (exit 1, said why).
  if (found.answered === 0) {
    process.stderr.write(`swarmpath ls: no DHT search answered within ${flags.timeout} s (${connected === 0
      ? `no connection: ${bootstrap.join(', ')} did not answer, unreachable or too busy`
      : `${connected} peer(s) connected; a busy or large swarm may need a longer --timeout`})\n`);
    return 1;
  }
  const records = found.records;
  const models = manifest ? [manifest.name] : modelsByHosts(records);
  const listings = (models.length > 0 ? models : ['']).map((m) => swarmListing(records, m, m === manifest?.name ? manifest.expertIds : []));
  if (flags.json) {
    const [first, ...others] = listings;
    process.stdout.write(JSON.stringify(others.length > 0 ? { ...first, others } : first) + '\n');
  } else {
    process.stdout.write(listings.map(table).join('\n'));
  }
  return 0;
}

/** A listing asks more hosts than a first view (FIRST_VIEW): it wants every host, once. */
const LEARN_ROUNDS = { peers: 4, rounds: 8 };

/**
 * Live hosts: every host of the swarm, plus (with a model) the providers of each of its experts; and how
 * many of those lookups answered (none: the DHT was not reached in time).
 */
async function findHosts(node: Awaited<ReturnType<typeof createSwarmNode>>, manifest: ModelInfo | undefined,
  timeoutMs: number, log: ReturnType<typeof createLogger>): Promise<{ records: HostRecord[]; answered: number }> {
  const discovery = createDiscovery({
    searchTimeoutMs: Math.max(300, timeoutMs * 0.6),
    recordTimeoutMs: Math.max(200, Math.min(2_000, timeoutMs * 0.35)),
    // A listing: every host the DHT holds, whatever address it announces (ls never dials them).
    allowPrivateAddresses: true,
  }, { node, log });
  // A search that got no answer in time lists nothing for it (said on stderr), not a failed listing.
  let answered = 0;
  const orNone = (what: string, p: Promise<HostRecord[]>) => p.then((r) => { answered++; return r; }, (err: unknown) => {
    log.warn(`${what}: ${(err as Error).message}`);
    return [] as HostRecord[];
  });
  const lookups = [orNone('every host', discovery.allHosts({ fresh: true })),
    ...(manifest?.expertIds ?? []).map((id) => orNone(`expert ${id}`, discovery.replicas(manifest!.name, id, { fresh: true })))];
  const byPeer = new Map<string, HostRecord>();
  for (const list of await Promise.all(lookups)) for (const r of list) byPeer.set(r.peerId, r);
  // A search names at most 32 providers: the hosts found are asked for the records they know (each
  // signed by its host and verified), in rounds of 4 while new hosts turn up (8 at most).
  // Rounds start within another --timeout (each bounded by the record timeout).
  const records = await learnAround([...byPeer.values()], (peers) => discovery.learn(peers), LEARN_ROUNDS, Date.now() + timeoutMs);
  return { records, answered };
}

interface ModelInfo { name: string; expertIds: string[] }

async function readModel(dir: string): Promise<ModelInfo> {
  let m: { name?: unknown; levels?: { experts?: { id?: unknown }[] }[] };
  try {
    m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  } catch (err) {
    throw new BadConfigError(`--model ${dir}: cannot read manifest.json (${(err as Error).message})`);
  }
  if (typeof m.name !== 'string' || !Array.isArray(m.levels)) throw new BadConfigError(`--model ${dir}: manifest.json has no name or levels`);
  const expertIds = m.levels.flatMap((l) => (l.experts ?? []).map((e) => e.id)).filter((id): id is string => typeof id === 'string');
  return { name: m.name, expertIds };
}

function table(l: SwarmListing): string {
  const hosts = new Set(Object.values(l.experts).flatMap((rs) => rs.map((r) => r.peerId)));
  const rows: string[][] = [['EXPERT', 'PEER', 'GRPC', 'STATE', 'LOAD', 'TOK/S', 'KV FREE']];
  for (const [id, rs] of Object.entries(l.experts)) {
    if (rs.length === 0) rows.push([id, '(no live host)', '', '', '', '', '']);
    for (const r of rs) {
      rows.push([id, r.peerId, r.grpc, r.state, String(r.load), r.throughput.toFixed(1), `${(r.kvFreeBytes / 2 ** 20).toFixed(0)} MiB`]);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const head = l.model === '' ? 'no hosts found\n' : `model ${l.model}: ${Object.keys(l.experts).length} experts, ${hosts.size} hosts\n`;
  return head + rows.map((r) => r.map((x, c) => x.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n';
}
