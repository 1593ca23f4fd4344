/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: every line is a HELP,
 * a TYPE, a sample or blank; names and label syntax are checked; a family's TYPE comes before its
 * samples and appears once; histogram buckets are cumulative and end in `+Inf` equal to `_count`.
 * Throws an Error naming the line on anything malformed.
 */

export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Family { name: string; type: string; help?: string; samples: Sample[] }

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) { if (/^# (HELP|TYPE)/.test(line)) throw new Error(`malformed comment at ${where}`); return; }
      const [, kind, name, rest] = m;
      if (!METRIC.test(name)) throw new Error(`bad metric name at ${where}`);
      const fam = families.get(name) ?? { name, type: 'untyped', samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`unknown type at ${where}`);
        if (families.has(name) && (families.get(name)!.samples.length > 0 || families.get(name)!.type !== 'untyped')) {
          throw new Error(`TYPE after samples or twice at ${where}`);
        }
        fam.type = rest;
      } else {
        if (fam.help !== undefined) throw new Error(`HELP twice at ${where}`);
        fam.help = rest;
      }
      families.set(name, fam);
      return;
    }
    const sample = parseSample(line, where);
    const fam = familyOf(families, sample.name);
    if (!fam) throw new Error(`sample without a TYPE line at ${where}`);
    fam.samples.push(sample);
  });
  for (const fam of families.values()) if (fam.type === 'histogram') checkHistogram(fam);
  return families;
}

function familyOf(families: Map<string, Family>, sampleName: string): Family | undefined {
  if (families.has(sampleName)) return families.get(sampleName);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const f = families.get(sampleName.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i])) i++;
  const name = line.slice(0, i);
  if (!METRIC.test(name)) throw new Error(`bad sample name at ${where}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`bad label at ${where}`);
      const key = line.slice(i, eq);
      if (!LABEL.test(key)) throw new Error(`bad label name ${JSON.stringify(key)} at ${where}`);
      if (line[eq + 1] !== '"') throw new Error(`unquoted label value at ${where}`);
      let j = eq + 2, value = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const n = line[++j];
          if (n === 'n') value += '\n'; else if (n === '\\' || n === '"') value += n;
          else throw new Error(`bad escape at ${where}`);
        } else value += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated label value at ${where}`);
      if (key in labels) throw new Error(`label ${key} twice at ${where}`);
      labels[key] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected , or } at ${where}`);
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (line[i] !== ' ' || rest.length < 1 || rest.length > 2) throw new Error(`bad value part at ${where}`);
  const value = parseValue(rest[0], where);
  if (rest[1] !== undefined && !/^-?\d+$/.test(rest[1])) throw new Error(`bad timestamp at ${where}`);
  return { name, labels, value };
}

function parseValue(s: string, where: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${s} at ${where}`);
  return Number(s);
}

function checkHistogram(fam: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of fam.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    if (s.name === `${fam.name}_bucket`) {
      if (le === undefined) throw new Error(`${fam.name}: bucket without le`);
      entry.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    } else if (s.name === `${fam.name}_count`) entry.count = s.value;
    else if (s.name === `${fam.name}_sum`) entry.sum = s.value;
    else throw new Error(`${fam.name}: unexpected sample ${s.name}`);
    series.set(key, entry);
  }
  for (const [key, e] of series) {
    const b = [...e.buckets].sort((x, y) => x[0] - y[0]);
    if (b.length === 0 || b[b.length - 1][0] !== Infinity) throw new Error(`${fam.name}${key}: no +Inf bucket`);
    for (let k = 1; k < b.length; k++) if (b[k][1] < b[k - 1][1]) throw new Error(`${fam.name}${key}: buckets not cumulative`);
    if (e.count === undefined || e.sum === undefined) throw new Error(`${fam.name}${key}: missing _count or _sum`);
    if (b[b.length - 1][1] !== e.count) throw new Error(`${fam.name}${key}: +Inf bucket ${b[b.length - 1][1]} != count ${e.count}`);
  }
}

/** The value of the sample `name` whose labels include `labels`; undefined when absent. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const fam of families.values()) {
    for (const s of fam.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
