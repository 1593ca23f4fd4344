/**
 * deploy/compose.yaml makes a working swarm: each swarmpath container's command line is accepted by
 * the real CLI parsers; hosts serve the placement of `swarmpath swarm` (2 replicas of every expert of
 * the bundled model); a host announces a gRPC address that names its own container and that the
 * router will dial; everyone bootstraps from the DHT service with the peer id the `dht-key` service
 * writes, on the volumes that carry it; health checks and Prometheus targets are the ports the
 * processes serve. (`docker-compose config` itself runs in test/integration/deploy/compose.test.ts.)
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { parseHostConfig } from '../../../expert-host/config.ts';
import { parseRouterConfig } from '../../../router/config.ts';
import { parseFlags } from '../../../shared/cli-args.ts';
import { isDialableAddress } from '../../../shared/net-address.ts';
import { FLAGS as DHT_FLAGS } from '../../../cli/commands/dht.ts';
import { planHosts } from '../../../cli/commands/swarm-plan.ts';
import { ROOT, SAMPLE_PEER_ID, fillVars, yamlDocument } from './deploy-files.ts';

const COMPOSE = join(ROOT, 'deploy', 'compose.yaml');
const compose = yamlDocument(COMPOSE);
const services: Record<string, any> = compose.services;
const EXPERTS: string[] = JSON.parse(readFileSync(join(ROOT, 'models', 'swarmpath-tiny', 'manifest.json'), 'utf8'))
  .levels.flatMap((l: { experts: { id: string }[] }) => l.experts.map((e) => e.id));

/** The Dockerfile's exec-form ENTRYPOINT of its last stage (the image compose builds). */
function imageEntrypoint(): string[] {
  const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n').filter((l) => /^ENTRYPOINT\s/.test(l));
  return JSON.parse(lines[lines.length - 1].replace(/^ENTRYPOINT\s+/, ''));
}

/** Compose interpolation of a value without variables: `$$` is a literal `$`; a lone `$` would read the host's environment. */
function unescape(s: string, where: string): string {
  assert.ok(!s.replace(/\$\$/g, '').includes('$'), `${where}: a lone $ in ${JSON.stringify(s)} would be filled from the host's environment`);
  return s.replace(/\$\$/g, '$');
}

interface Launch { role: string; argv: string[]; peerIdFiles: string[] }

/**
 * What a swarmpath service runs: the image's ENTRYPOINT plus `command`, or an `sh -c` wrapper that
 * fills the DHT peer id from a file (`$(cat FILE)`) and the container's `${HOSTNAME}`, then execs the
 * same command with `"$@"` (the service's `command`).
 */
function launch(name: string): Launch {
  const svc = services[name];
  const command = ((svc.command ?? []) as string[]).map((c) => unescape(c, name));
  const entry = imageEntrypoint();
  if (!svc.entrypoint) {
    const [role, ...argv] = command;
    return { role, argv, peerIdFiles: [] };
  }
  assert.deepEqual(svc.entrypoint.slice(0, 2), ['/bin/sh', '-c'], `${name}: entrypoint`);
  const peerIdFiles: string[] = [];
  let script = unescape(svc.entrypoint[2], name);
  script = script.replace(/\$\(cat ([^)\s]+)\)/g, (_, f: string) => { peerIdFiles.push(f); return SAMPLE_PEER_ID; });
  script = fillVars(script, { HOSTNAME: svc.hostname ?? '(no hostname)' });
  const tokens = (script.match(/"[^"]*"|\S+/g) ?? []).map((t) => t.replace(/^"|"$/g, ''));
  assert.deepEqual(tokens.slice(0, 3), ['exec', ...entry], `${name}: execs the image's command`);
  assert.equal(tokens[tokens.length - 1], '$@', `${name}: passes its command on`);
  const [role, ...argv] = [...tokens.slice(3, -1), ...command];
  return { role, argv, peerIdFiles };
}

/** Services that run the swarmpath CLI (dht-key runs deploy/dht-key.ts in the same image). */
const runsCli = (n: string) => services[n].image === services.dht.image && services[n].entrypoint?.[0] !== 'node';
const byRole = (role: string) => Object.keys(services).filter((n) => runsCli(n) && launch(n).role === role);
const hostNames = () => byRole('host').sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

/** Named volume mounted at `dir` in service `name` (short syntax `vol:/path[:ro]`), with its mode. */
function volumeAt(name: string, dir: string): { volume: string; readOnly: boolean } | undefined {
  for (const v of (services[name].volumes ?? []) as string[]) {
    const [volume, target, mode] = v.split(':');
    if (target === dir) return { volume, readOnly: mode === 'ro' };
  }
  return undefined;
}

describe('deploy/compose.yaml', () => {
  it('hosts serve the experts `swarmpath swarm` would give them: 4 each, 2 replicas of every expert', () => {
    const hosts = hostNames();
    const served = hosts.map((n) => [...parseHostConfig(launch(n).argv, {}).experts]);
    assert.deepEqual(served, planHosts(EXPERTS, 2, 4));
    for (const e of EXPERTS) assert.equal(served.filter((s) => s.includes(e)).length, 2, e);
  });

  it('each host announces <its hostname>:port, which resolves to it, and which router and hosts will dial', () => {
    const router = parseRouterConfig(launch('router').argv, {});
    for (const n of hostNames()) {
      const cfg = parseHostConfig(launch(n).argv, {});
      assert.equal(services[n].hostname, n, `${n}: hostname is the service name (both resolve to the container)`);
      assert.equal(cfg.grpcHost, n, `${n}: --grpc-listen host`);
      const announced = `${cfg.grpcHost}:${cfg.grpcPort}`;
      assert.ok(cfg.grpcPort > 0, `${n}: a fixed gRPC port`);
      assert.ok(isDialableAddress(announced, router.allowPrivateAddresses), `the router dials ${announced}`);
      assert.ok(isDialableAddress(announced, cfg.allowPrivateAddresses), `${n} dials other hosts (rebalancing)`);
    }
  });

  it('everyone bootstraps from the DHT service with the peer id that dht-key writes, on a shared volume', () => {
    const dht = parseFlags(launch('dht').argv, DHT_FLAGS, {}).flags;
    const port = Number(/^\/ip4\/0\.0\.0\.0\/tcp\/(\d+)$/.exec((dht.listen as string[])[0])![1]);
    const [keyFile, peerIdFile] = services['dht-key'].command as string[];
    assert.deepEqual(services['dht-key'].entrypoint, ['node', '/app/deploy/dht-key.ts']);
    assert.ok(existsSync(join(ROOT, 'deploy', 'dht-key.ts')));
    assert.equal(dht['key-file'], keyFile, 'the DHT node uses the key dht-key made');
    const keyVol = volumeAt('dht-key', dirname(keyFile));
    assert.ok(keyVol && !keyVol.readOnly, 'dht-key writes the key to a volume');
    assert.deepEqual(volumeAt('dht', dirname(keyFile))?.volume, keyVol.volume, 'the DHT node mounts the same key volume');
    const idVol = volumeAt('dht-key', dirname(peerIdFile));
    assert.ok(idVol && !idVol.readOnly && idVol.volume !== keyVol.volume, 'the peer id goes to its own volume (the key stays with the DHT)');
    assert.equal(services.dht['depends_on']['dht-key'].condition, 'service_completed_successfully');
    for (const n of [...hostNames(), 'router']) {
      const l = launch(n);
      const cfg = l.role === 'host' ? parseHostConfig(l.argv, {}) : parseRouterConfig(l.argv, {});
      assert.deepEqual([...cfg.bootstrap], [`/dns4/dht/tcp/${port}/p2p/${SAMPLE_PEER_ID}`], n);
      multiaddr(cfg.bootstrap[0]);
      assert.deepEqual(l.peerIdFiles, [peerIdFile], `${n}: reads the peer id dht-key wrote`);
      assert.deepEqual(volumeAt(n, dirname(peerIdFile)), { volume: idVol.volume, readOnly: true }, `${n}: mounts the peer id volume read-only`);
      assert.equal(services[n]['depends_on'].dht.condition, 'service_healthy', `${n}: starts once the DHT node answers`);
      assert.equal(volumeAt(n, dirname(keyFile)), undefined, `${n}: no access to the DHT key`);
    }
  });

  it('health checks and Prometheus targets are the ports the processes serve', () => {
    const prom = yamlDocument(join(ROOT, 'deploy', 'prometheus.yml'));
    const targets = (job: string) => prom.scrape_configs.find((j: any) => j.job_name === job).static_configs.flatMap((s: any) => s.targets).sort();
    const hostTargets: string[] = [];
    for (const n of hostNames()) {
      const m = parseHostConfig(launch(n).argv, {}).metricsListen;
      assert.ok(m, `${n}: --metrics-listen`);
      assert.equal(m.host, '0.0.0.0', `${n}: metrics reachable from Prometheus's container and the health check`);
      assert.equal(services[n].environment.HEALTHCHECK_URL, `http://127.0.0.1:${m.port}/healthz`, n);
      hostTargets.push(`${n}:${m.port}`);
    }
    assert.deepEqual(targets('swarmpath-host'), hostTargets.sort());
    const r = parseRouterConfig(launch('router').argv, {});
    assert.equal(r.httpHost, '0.0.0.0');
    assert.deepEqual(targets('swarmpath-router'), [`router:${r.httpPort}`]);
    assert.equal(services.router.environment.HEALTHCHECK_URL, `http://127.0.0.1:${r.httpPort}/healthz`);
    assert.ok((services.router.ports as string[]).includes(`127.0.0.1:${r.httpPort}:${r.httpPort}`), 'the API is published on 127.0.0.1');
    const dhtPort = /tcp\/(\d+)$/.exec((parseFlags(launch('dht').argv, DHT_FLAGS, {}).flags.listen as string[])[0])![1];
    assert.equal(services.dht.environment.HEALTHCHECK_URL, `tcp://127.0.0.1:${dhtPort}`);
  });

  it('builds the image from a stage of the Dockerfile and sends traces to the Jaeger service', () => {
    const stages = [...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
    for (const n of Object.keys(services).filter((s) => services[s].build)) {
      assert.ok(stages.includes(services[n].build.target), `${n}: target ${services[n].build.target} is a stage (${stages.join(', ')})`);
      assert.equal(join(dirname(COMPOSE), services[n].build.context), ROOT, `${n}: the repository is the build context`);
    }
    assert.ok(services.jaeger, 'a jaeger service');
    for (const n of [...hostNames(), 'router']) assert.equal(services[n].environment.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://jaeger:4318', n);
  });
});
