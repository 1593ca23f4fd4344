/**
 * deploy/k8s: every YAML document is a Kubernetes object that passes its API schema (kubernetes-models'
 * validators, and its TypeScript types for fields the API does not know, which `kubectl apply`'s strict
 * validation refuses), the kustomizations list every file, and the workloads make a working swarm:
 * arguments the real CLI parsers accept, a bootstrap address that names the DHT's pod, two replicas
 * of every expert, probes and Prometheus annotations on the ports the processes serve, a GPU host.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import ts from 'typescript';
import { multiaddr } from '@multiformats/multiaddr';
import { parseHostConfig } from '../../../expert-host/config.ts';
import { parseRouterConfig } from '../../../router/config.ts';
import { parseFlags } from '../../../shared/cli-args.ts';
import { isDialableAddress } from '../../../shared/net-address.ts';
import { FLAGS as DHT_FLAGS } from '../../../cli/commands/dht.ts';
import { ROOT, SAMPLE_PEER_ID, fillVars, filesUnder, yamlDocument, yamlDocuments } from './deploy-files.ts';

const K8S = join(ROOT, 'deploy', 'k8s');
const isKustomization = (f: string) => basename(f) === 'kustomization.yaml';

interface Doc { where: string; obj: any }

function docsOf(files: readonly string[]): Doc[] {
  return files.flatMap((f) => yamlDocuments(f).map((obj, i) => ({ where: `${relative(ROOT, f)}#${i + 1}`, obj })));
}

/** Every manifest file under deploy/k8s, whichever kustomization lists it. */
function allManifests(): Doc[] {
  return docsOf(filesUnder(K8S, /\.ya?ml$/).filter((f) => !isKustomization(f)));
}

/** The manifest files a kustomization folder builds from (its resources, folders followed). */
function kustomizationFiles(dir: string): string[] {
  const k = yamlDocument(join(dir, 'kustomization.yaml'));
  return (k.resources as string[]).flatMap((r) => {
    const p = join(dir, r);
    return statSync(p).isDirectory() ? kustomizationFiles(p) : [p];
  });
}

/** The documents `kubectl apply -k deploy/k8s` applies (the base, without the gpu overlay), apart from generated ones. */
const base = (): Doc[] => docsOf(kustomizationFiles(K8S));

/** The kubernetes-models module of an apiVersion: `v1` → kubernetes-models/v1, `apps/v1` → kubernetes-models/apps/v1. */
function modelModule(apiVersion: unknown): string {
  if (typeof apiVersion !== 'string' || !/^([a-z0-9.-]+\/)?v\d+((alpha|beta)\d+)?$/.test(apiVersion)) {
    throw new Error(`apiVersion ${JSON.stringify(apiVersion)} is not a Kubernetes API version`);
  }
  return `kubernetes-models/${apiVersion}`;
}

/** Validates `obj` with the kubernetes-models class of its apiVersion and kind; throws on an unknown kind or a schema error. */
async function validateObject(obj: any): Promise<void> {
  if (!obj || typeof obj !== 'object') throw new Error('not a mapping');
  if (!obj.apiVersion || !obj.kind) throw new Error('apiVersion and kind are required');
  const module = modelModule(obj.apiVersion);
  let mod: Record<string, any>;
  try { mod = await import(module); } catch { throw new Error(`unknown apiVersion ${obj.apiVersion}`); }
  const Model = mod[obj.kind];
  if (typeof Model !== 'function' || Model.kind !== obj.kind || Model.apiVersion !== obj.apiVersion) {
    throw new Error(`unknown kind ${obj.apiVersion}/${obj.kind}`);
  }
  new Model(obj).validate();
}

/**
 * Fields the API does not know, and values of the wrong type, as TypeScript sees each document
 * assigned to its kubernetes-models interface (excess property checks reach every depth; the JSON
 * schemas allow unknown fields). One line per problem, `where: message`.
 */
function typeProblems(docs: readonly Doc[]): string[] {
  const file = join(ROOT, 'test', 'unit', 'deploy', '__k8s-types__.ts');
  const source = docs.map((d, i) =>
    `import type { I${d.obj.kind} as T${i} } from '${modelModule(d.obj.apiVersion)}/${d.obj.kind}';\n` +
    `export const d${i}: T${i} = ${JSON.stringify(d.obj)};`).join('\n') + '\n';
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'],
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => name === file ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => name === file ? source : readFile.call(host, name);
  const program = ts.createProgram([file], options, host);
  const sf = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sf).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
    const doc = docs[Math.floor(line / 2)];
    return `${doc ? doc.where : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
  });
}

/** Pod templates of the workloads, with where they are. */
function podTemplates(docs: readonly Doc[]): { where: string; name: string; replicas: number; pod: any; meta: any }[] {
  return docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d.obj.kind)).map((d) => ({
    where: d.where, name: d.obj.metadata.name, replicas: d.obj.spec.replicas ?? 1, pod: d.obj.spec.template.spec, meta: d.obj.spec.template.metadata,
  }));
}

/** `$(VAR)` values for container args: each must be an env var of the container. */
function argVars(container: any): Record<string, string> {
  const sample: Record<string, string> = { POD_IP: '10.244.1.7', DHT_PEER_ID: SAMPLE_PEER_ID };
  const vars: Record<string, string> = {};
  for (const e of container.env ?? []) if (e.name in sample) vars[e.name] = sample[e.name];
  return vars;
}

/** The container's command line (args after the role), with env references filled in. */
function commandLine(container: any): { role: string; argv: string[] } {
  const vars = argVars(container);
  const [role, ...argv] = (container.args as string[]).map((a) => fillVars(a, vars));
  return { role, argv };
}

const EXPERTS: string[] = JSON.parse(readFileSync(join(ROOT, 'models', 'swarmpath-tiny', 'manifest.json'), 'utf8'))
  .levels.flatMap((l: { experts: { id: string }[] }) => l.experts.map((e) => e.id));

describe('deploy/k8s manifests', () => {
  it('every document has apiVersion and kind and passes its Kubernetes schema (kubernetes-models)', async () => {
    const docs = allManifests();
    const problems: string[] = [];
    for (const d of docs) {
      try { await validateObject(d.obj); } catch (err) { problems.push(`${d.where}: ${(err as Error).message}`); }
    }
    assert.deepEqual(problems, []);
    const kinds = new Set(docs.map((d) => `${d.obj.apiVersion}/${d.obj.kind}`));
    for (const k of ['v1/Namespace', 'v1/Service', 'apps/v1/StatefulSet', 'apps/v1/Deployment', 'policy/v1/PodDisruptionBudget']) assert.ok(kinds.has(k), k);
  });

  it('has no field the Kubernetes API does not know, nor a value of the wrong type; the checks can fail', async () => {
    await assert.rejects(validateObject({ apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } }), /unknown kind apps\/v1\/Deploymnet/);
    await assert.rejects(validateObject({ kind: 'ConfigMap' }), /apiVersion and kind are required/);
    await assert.rejects(validateObject({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { replicas: 'one' } }));
    // A misspelt field passes the JSON schema (it allows unknown fields) but not the types, which
    // are checked in one program with the manifests (building one takes seconds).
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'i', readinesProbe: { tcpSocket: { port: 1 } } }] } };
    await validateObject(pod);
    const problems = typeProblems([...allManifests(), { where: 'misspelt.yaml#1', obj: pod }]);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^misspelt\.yaml#1: .*readinesProbe"?' does not exist in type 'IContainer'/);
  });

  it('each kustomization lists existing resources, none above itself, and every manifest file is listed by its folder\'s', () => {
    const ks = filesUnder(K8S, /^kustomization\.yaml$/);
    assert.deepEqual(ks.map((k) => relative(K8S, k)), ['base/kustomization.yaml', 'gpu/kustomization.yaml', 'kustomization.yaml']);
    for (const k of ks) {
      const doc = yamlDocument(k);
      assert.equal(doc.apiVersion, 'kustomize.config.k8s.io/v1beta1', k);
      assert.equal(doc.kind, 'Kustomization', k);
      const dir = dirname(k);
      for (const r of doc.resources as string[]) {
        const p = join(dir, r);
        assert.ok(existsSync(p), `${relative(ROOT, k)}: resource ${r} does not exist`);
        if (!statSync(p).isDirectory()) continue;
        assert.ok(existsSync(join(p, 'kustomization.yaml')), `${relative(ROOT, k)}: ${r} has no kustomization.yaml`);
        // kustomize refuses a folder that contains the kustomization using it ("cycle detected").
        assert.ok(!`${dir}${sep}`.startsWith(`${p}${sep}`), `${relative(ROOT, k)}: ${r} contains this kustomization`);
      }
      const own = filesUnder(dir, /\.ya?ml$/).filter((f) => dirname(f) === dir && !isKustomization(f)).map((f) => basename(f));
      for (const f of own) assert.ok((doc.resources as string[]).includes(f), `${relative(ROOT, k)} does not list ${f}`);
    }
  });

  it('config the workloads refer to is generated by the kustomization, from files kept out of git', () => {
    const k = yamlDocument(join(K8S, 'base', 'kustomization.yaml'));
    const secrets = new Set<string>((k.secretGenerator ?? []).map((g: any) => g.name));
    const configMaps = new Map<string, string[]>((k.configMapGenerator ?? []).map((g: any) => [g.name, (g.files as string[]).map((f) => f.split('=')[0])]));
    const sources = [...(k.secretGenerator ?? []), ...(k.configMapGenerator ?? [])].flatMap((g: any) => (g.files as string[]).map((f) => f.split('=').pop()!));
    const ignored = readFileSync(join(K8S, 'base', '.gitignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const s of sources) assert.ok(ignored.includes(s), `deploy/k8s/base/.gitignore lists ${s}`);
    for (const t of podTemplates(allManifests())) {
      for (const v of t.pod.volumes ?? []) if (v.secret) assert.ok(secrets.has(v.secret.secretName), `${t.where}: secret ${v.secret.secretName}`);
      for (const c of t.pod.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.configMapKeyRef;
          if (ref) assert.ok(configMaps.get(ref.name)?.includes(ref.key), `${t.where}: configMap ${ref.name} key ${ref.key}`);
        }
      }
    }
  });

  it('every container runs the CLI with flags its parser accepts, as a non-root user, with requests and probes', () => {
    const templates = podTemplates(allManifests());
    assert.ok(templates.length >= 4, `${templates.length} workloads`);
    for (const t of templates) {
      const uid = t.pod.securityContext?.runAsUser;
      assert.equal(t.pod.securityContext?.runAsNonRoot, true, `${t.where}: runAsNonRoot`);
      assert.ok(Number.isInteger(uid) && uid > 0, `${t.where}: runAsUser ${uid}`);
      for (const c of t.pod.containers) {
        for (const a of c.args as string[]) for (const m of a.matchAll(/\$\(([A-Z_]+)\)/g)) {
          assert.ok((c.env ?? []).some((e: any) => e.name === m[1]), `${t.where}: ${m[1]} is not an env var of ${c.name}`);
        }
        const { role, argv } = commandLine(c);
        if (role === 'host') parseHostConfig(argv, {});
        else if (role === 'router') parseRouterConfig(argv, {});
        else if (role === 'dht') parseFlags(argv, DHT_FLAGS, {});
        else assert.fail(`${t.where}: unexpected command ${role}`);
        assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${t.where}: ${c.name} requests cpu and memory`);
        assert.ok(c.readinessProbe, `${t.where}: ${c.name} has a readiness probe`);
      }
    }
  });

  it('hosts and the router bootstrap from the DHT pod\'s stable name and port, and the router can dial the hosts', () => {
    const docs = allManifests();
    const sts = docs.find((d) => d.obj.kind === 'StatefulSet' && d.obj.spec.template.spec.containers[0].args[0] === 'dht')!.obj;
    const svc = docs.find((d) => d.obj.kind === 'Service' && d.obj.metadata.name === sts.spec.serviceName)?.obj;
    assert.ok(svc, `Service ${sts.spec.serviceName} of the DHT StatefulSet`);
    assert.equal(svc.spec.clusterIP, 'None', 'the DHT Service is headless (per-pod DNS names)');
    const dhtArgs = parseFlags(commandLine(sts.spec.template.spec.containers[0]).argv, DHT_FLAGS, {}).flags;
    const port = Number(/\/tcp\/(\d+)$/.exec((dhtArgs.listen as string[])[0])![1]);
    assert.ok(svc.spec.ports.some((p: any) => p.port === port), `Service port ${port}`);
    assert.equal(sts.spec.template.spec.volumes[0].secret.items[0].path, basename(dhtArgs['key-file'] as string), 'the key file comes from the Secret');
    const expected = `/dns4/${sts.metadata.name}-0.${sts.spec.serviceName}/tcp/${port}/p2p/${SAMPLE_PEER_ID}`;
    const announced: string[] = [];
    const routers: { allowPrivateAddresses: boolean }[] = [];
    for (const t of podTemplates(docs)) {
      const c = t.pod.containers[0];
      const { role, argv } = commandLine(c);
      if (role === 'dht') continue;
      const cfg = role === 'host' ? parseHostConfig(argv, {}) : parseRouterConfig(argv, {});
      assert.deepEqual([...cfg.bootstrap], [expected], t.where);
      multiaddr(cfg.bootstrap[0]);
      if (role === 'host') {
        const h = cfg as ReturnType<typeof parseHostConfig>;
        assert.equal(h.grpcHost, '10.244.1.7', `${t.where}: --grpc-listen is the pod IP`);
        assert.ok(c.env.some((e: any) => e.name === 'POD_IP' && e.valueFrom?.fieldRef?.fieldPath === 'status.podIP'), t.where);
        announced.push(`${h.grpcHost}:${h.grpcPort}`);
        assert.ok(isDialableAddress(announced[announced.length - 1], h.allowPrivateAddresses), `${t.where}: hosts dial each other (rebalancing)`);
      } else {
        routers.push(cfg as ReturnType<typeof parseRouterConfig>);
      }
    }
    assert.ok(routers.length === 1 && announced.length >= 2);
    for (const a of announced) assert.ok(isDialableAddress(a, routers[0].allowPrivateAddresses), `the router dials ${a}`);
  });

  it('serves 2 replicas of every expert of the bundled model on CPU hosts', () => {
    const replicas = new Map<string, number>(EXPERTS.map((e) => [e, 0]));
    for (const t of podTemplates(base()).filter((x) => commandLine(x.pod.containers[0]).role === 'host')) {
      const cfg = parseHostConfig(commandLine(t.pod.containers[0]).argv, {});
      assert.equal(cfg.device, 'cpu', t.where);
      for (const e of cfg.experts) {
        assert.ok(replicas.has(e), `${t.where}: ${e} is not an expert of the model`);
        replicas.set(e, replicas.get(e)! + t.replicas);
      }
    }
    assert.deepEqual(Object.fromEntries(replicas), Object.fromEntries(EXPERTS.map((e) => [e, 2])));
  });

  it('probes and Prometheus annotations point at the ports where hosts and router serve /healthz, /readyz and /metrics', () => {
    for (const t of podTemplates(allManifests())) {
      const c = t.pod.containers[0];
      const { role, argv } = commandLine(c);
      if (role === 'dht') continue;
      const port = role === 'host' ? parseHostConfig(argv, {}).metricsListen?.port : parseRouterConfig(argv, {}).httpPort;
      assert.ok(port, `${t.where}: a metrics port`);
      const named = (p: unknown) => typeof p === 'number' ? p : c.ports.find((x: any) => x.name === p)?.containerPort;
      const a = t.meta.annotations ?? {};
      assert.equal(a['prometheus.io/scrape'], 'true', t.where);
      assert.equal(a['prometheus.io/port'], String(port), t.where);
      assert.equal(a['prometheus.io/path'], '/metrics', t.where);
      assert.equal(named(c.readinessProbe.httpGet.port), port, `${t.where}: readiness port`);
      assert.equal(c.readinessProbe.httpGet.path, role === 'host' ? '/healthz' : '/readyz', t.where);
      assert.equal(named(c.livenessProbe.httpGet.port), port, `${t.where}: liveness port`);
    }
  });

  it('the gpu overlay adds a host with an nvidia.com/gpu limit and --device cuda', () => {
    const inBase = new Set(kustomizationFiles(K8S));
    const gpu = podTemplates(docsOf(kustomizationFiles(join(K8S, 'gpu')).filter((f) => !inBase.has(f))));
    assert.equal(gpu.length, 1);
    const c = gpu[0].pod.containers[0];
    assert.ok(Number(c.resources.limits['nvidia.com/gpu']) >= 1, 'a GPU limit');
    const cfg = parseHostConfig(commandLine(c).argv, {});
    assert.equal(cfg.device, 'cuda');
    assert.deepEqual([...cfg.experts].sort(), [...EXPERTS].sort());
  });
});
