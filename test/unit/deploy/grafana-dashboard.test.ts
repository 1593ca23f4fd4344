/**
 * deploy/grafana: the dashboard queries only series the router and hosts expose (names and labels
 * read from their registries' Prometheus text, shared/telemetry/router-metrics.ts and
 * host-metrics.ts), shows every metric they register, and is a well-formed dashboard model on the
 * provisioned data source; the provisioning files get every variable they read from both compose
 * files and load the dashboard from where the compose files mount it.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { createMetricsRegistry, hostMetrics, routerMetrics, type MetricsRegistry } from '../../../shared/telemetry/metrics.ts';
import { ROOT, filesUnder, yamlDocument } from './deploy-files.ts';

const GRAFANA = join(ROOT, 'deploy', 'grafana');
const DASHBOARD_FILE = join(GRAFANA, 'dashboards', 'swarmpath.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));

/** Label names of each metric, from the type arguments in the instrument set's source (`reg.counter<'a' | 'b'>('name', …)`). */
function declaredLabels(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of ['router-metrics.ts', 'host-metrics.ts']) {
    const src = readFileSync(join(ROOT, 'shared', 'telemetry', f), 'utf8');
    for (const m of src.matchAll(/reg\.(?:counter|histogram|gauge)(?:<([^>]*)>)?\(\s*'([a-z0-9_]+)'/g)) {
      out.set(m[2], [...(m[1] ?? '').matchAll(/'([A-Za-z_][A-Za-z0-9_]*)'/g)].map((l) => l[1]));
    }
  }
  return out;
}

/**
 * The series a scrape shows, each with its label names: both instrument sets registered in a real
 * registry, each instrument recorded once with its declared labels, the Prometheus text parsed.
 */
async function exposedSeries(): Promise<{ series: Map<string, Set<string>>; metrics: string[] }> {
  const labels = declaredLabels();
  const real = createMetricsRegistry();
  const record: Array<() => void> = [];
  const names: string[] = [];
  const sample = (name: string) => {
    assert.ok(labels.has(name), `${name}: labels not found in the source`);
    return Object.fromEntries(labels.get(name)!.map((l) => [l, 'x']));
  };
  const reg: MetricsRegistry = {
    meter: real.meter,
    counter(name, help) { names.push(name); const c = real.counter(name, help); record.push(() => c.inc(sample(name), 1)); return c; },
    histogram(name, help, b) { names.push(name); const h = real.histogram(name, help, b); record.push(() => h.observe(sample(name), 0.01)); return h; },
    gauge(name, help) { names.push(name); const g = real.gauge(name, help); record.push(() => g.set(sample(name), 1)); return g; },
    text: () => real.text(),
    shutdown: () => real.shutdown(),
  };
  routerMetrics(reg);
  hostMetrics(reg);
  for (const r of record) r();
  const series = new Map<string, Set<string>>();
  for (const line of (await real.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s/.exec(line);
    if (!m) continue;
    const set = series.get(m[1]) ?? new Set<string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) set.add(l[1]);
    series.set(m[1], set);
  }
  await real.shutdown();
  return { series, metrics: names };
}

/** Labels Prometheus adds to every scraped series (the target's). */
const TARGET_LABELS = ['instance', 'job'];
const BUILTIN_VARIABLES = ['__rate_interval', '__interval', '__range', '__interval_ms', '__range_s'];

/** What is wrong with one query (expr and legend) against the exposed series; `variables` are the dashboard's own. */
function queryProblems(expr: string, legend: string | undefined, series: Map<string, Set<string>>, variables: readonly string[]): string[] {
  const problems: string[] = [];
  const used = [...expr.matchAll(/\bswarmpath_[a-z0-9_]+/g)].map((m) => m[0]);
  if (used.length === 0) problems.push('uses no swarmpath metric');
  const allowed = new Set(TARGET_LABELS);
  for (const name of used) {
    const labels = series.get(name);
    if (!labels) problems.push(`${name} is not a series the router or a host exposes`);
    else for (const l of labels) allowed.add(l);
  }
  const referenced = [
    ...[...expr.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((s) => s.trim()).filter(Boolean)),
    ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1])),
    ...[...(legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]),
  ];
  for (const l of new Set(referenced)) if (!allowed.has(l)) problems.push(`label ${l} is on none of ${used.join(', ')}`);
  for (const v of [...expr.matchAll(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)/g)].map((m) => m[1])) {
    if (!variables.includes(v) && !BUILTIN_VARIABLES.includes(v)) problems.push(`variable $${v} is not defined`);
  }
  return problems;
}

/** Every query of the dashboard (panel targets and query variables), as `where: problem` lines. */
function dashboardProblems(d: any, series: Map<string, Set<string>>): string[] {
  const variables: string[] = (d.templating?.list ?? []).map((v: any) => v.name);
  const problems: string[] = [];
  for (const p of d.panels) {
    for (const t of p.targets ?? []) {
      for (const e of queryProblems(t.expr, t.legendFormat, series, variables)) problems.push(`panel "${p.title}" ${t.refId}: ${e}`);
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((swarmpath_[a-z0-9_]+)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q);
    if (!m) problems.push(`variable ${v.name}: ${q} is not label_values(metric, label)`);
    else if (!series.get(m[1])?.has(m[2])) problems.push(`variable ${v.name}: ${m[1]} has no label ${m[2]}`);
  }
  return problems;
}

describe('deploy/grafana', () => {
  it('the dashboard queries only series and labels the router and hosts expose', async () => {
    const { series } = await exposedSeries();
    assert.ok(series.has('swarmpath_requests_total') && series.has('swarmpath_host_step_duration_seconds_bucket'), [...series.keys()].join(', '));
    assert.deepEqual(dashboardProblems(dashboard, series), []);
  });

  it('the check finds a misspelt metric, a label the metric lacks and an undefined variable', async () => {
    const { series } = await exposedSeries();
    const d = {
      templating: { list: [{ name: 'expert', type: 'query', query: 'label_values(swarmpath_live_replicas, host)' }] },
      panels: [{ title: 'p', targets: [
        { refId: 'A', expr: 'sum by (code) (rate(swarmpath_request_total[$__rate_interval]))' },
        { refId: 'B', expr: 'sum by (expert) (rate(swarmpath_requests_total[5m]))', legendFormat: '{{expert}}' },
        { refId: 'C', expr: 'swarmpath_live_replicas{expert=~"$expertz"}' },
      ] }],
    };
    assert.deepEqual(dashboardProblems(d, series), [
      'panel "p" A: swarmpath_request_total is not a series the router or a host exposes',
      'panel "p" A: label code is on none of swarmpath_request_total',
      'panel "p" B: label expert is on none of swarmpath_requests_total',
      'panel "p" C: variable $expertz is not defined',
      'variable expert: swarmpath_live_replicas has no label host',
    ]);
  });

  it('shows every metric the router and hosts register', async () => {
    const { metrics } = await exposedSeries();
    assert.ok(metrics.length >= 20, `${metrics.length} metrics`);
    const exprs = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr as string)).join('\n');
    const missing = metrics.filter((m) => !new RegExp(`\\b${m}(_bucket|_sum|_count)?\\b`).test(exprs));
    assert.deepEqual(missing, []);
  });

  it('is a dashboard model: unique ids and refIds, panels inside the 24-column grid without overlap, the provisioned data source', () => {
    const ds = yamlDocument(join(GRAFANA, 'provisioning', 'datasources', 'swarmpath.yaml'));
    assert.equal(ds.apiVersion, 1);
    const prom = ds.datasources.find((d: any) => d.type === 'prometheus');
    assert.ok(prom?.uid, 'a provisioned Prometheus data source with a uid');
    assert.ok(typeof dashboard.uid === 'string' && dashboard.title && Number.isInteger(dashboard.schemaVersion), 'uid, title, schemaVersion');
    const ids = dashboard.panels.map((p: any) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    const boxes: { title: string; x: number; y: number; w: number; h: number }[] = [];
    for (const p of dashboard.panels) {
      const g = p.gridPos;
      assert.ok([g.x, g.y, g.w, g.h].every(Number.isInteger) && g.x >= 0 && g.y >= 0 && g.w >= 1 && g.h >= 1 && g.x + g.w <= 24, `${p.title}: gridPos ${JSON.stringify(g)}`);
      for (const b of boxes) {
        const overlap = g.x < b.x + b.w && b.x < g.x + g.w && g.y < b.y + b.h && b.y < g.y + g.h;
        assert.ok(!overlap, `"${p.title}" overlaps "${b.title}"`);
      }
      boxes.push({ title: p.title, ...g });
      if (p.type === 'row') continue;
      assert.ok(['timeseries', 'stat', 'gauge', 'bargauge', 'table'].includes(p.type), `${p.title}: type ${p.type}`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: prom.uid }, `${p.title}: data source`);
      const refIds = p.targets.map((t: any) => t.refId);
      assert.ok(refIds.length > 0 && new Set(refIds).size === refIds.length, `${p.title}: refIds ${refIds}`);
      for (const t of p.targets) assert.deepEqual(t.datasource, p.datasource, `${p.title} ${t.refId}: data source`);
    }
    for (const v of dashboard.templating.list) assert.deepEqual(v.datasource, { type: 'prometheus', uid: prom.uid }, `variable ${v.name}`);
  });

  it('both compose files give Grafana the provisioning variables and mount the dashboard where the provider reads it', () => {
    const provisioning = filesUnder(join(GRAFANA, 'provisioning'), /\.ya?ml$/);
    const vars = new Set(provisioning.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map((m) => m[1])));
    assert.ok(vars.has('PROMETHEUS_URL'), [...vars].join(', '));
    const provider = yamlDocument(join(GRAFANA, 'provisioning', 'dashboards', 'swarmpath.yaml')).providers[0];
    for (const file of ['compose.yaml', 'docker-compose.yml']) {
      const g = yamlDocument(join(ROOT, 'deploy', file)).services.grafana;
      assert.ok(g, `${file}: a grafana service`);
      for (const v of vars) assert.ok(typeof g.environment[v] === 'string' && g.environment[v].length > 0, `${file}: grafana sets ${v}`);
      const mounts = new Map<string, string>((g.volumes as string[]).map((v) => { const [src, dst] = v.split(':'); return [src, dst]; }));
      assert.equal(mounts.get('./grafana/provisioning'), '/etc/grafana/provisioning', `${file}: provisioning mount`);
      const dashboards = mounts.get('./grafana/dashboards');
      assert.equal(dashboards, provider.options.path, `${file}: dashboards mounted where the provider reads`);
      const home = g.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string;
      assert.ok(home.startsWith(`${dashboards}/`), `${file}: home dashboard under the mount`);
      assert.ok(existsSync(join(GRAFANA, 'dashboards', posix.relative(dashboards!, home))), `${file}: ${home} is a file of the repository`);
    }
    assert.equal(relative(GRAFANA, DASHBOARD_FILE), join('dashboards', 'swarmpath.json'));
  });
});
