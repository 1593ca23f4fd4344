/* global document, fetch, sessionStorage, setTimeout, clearTimeout */
/**
 * The router dashboard's script (served as is, no build step): polls GET /dashboard/stats every 2 s
 * (one request at a time) and draws it: figures, SVG sparklines, every expert with its replicas,
 * path counts, failovers and moves. Text from the server (peer ids, devices: host records come
 * from the DHT) only ever goes in through textContent, never as markup.
 *
 * With API keys on (`<body data-auth="bearer">`) it asks for a key first, keeps it in
 * sessionStorage (this tab only) and sends it as `Authorization: Bearer`; a 401 asks again.
 */
const STATS_URL = '/dashboard/stats';
const POLL_MS = 2000;
const KEY_ITEM = 'swarmpath.apiKey';
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (sel) => document.querySelector(sel);

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  el.append(...children.flat().filter((c) => c !== undefined && c !== null));
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

const fmt = {
  int: (n) => Math.round(n).toLocaleString('en-US'),
  rate: (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)),
  ms: (n) => (n === null ? '–' : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`),
  ago: (ms) => (ms < 60_000 ? `${Math.max(0, Math.round(ms / 1000))} s ago` : `${Math.round(ms / 60_000)} min ago`),
  peer: (id) => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id),
};

/**
 * Draws `series` (arrays of numbers or null = no data) into the SVG as lines over a shared scale;
 * the first series also gets a filled area. Nulls break the line.
 */
function sparkline(el, series, classes) {
  const [w, hgt, pad] = [240, 48, 3];
  const max = Math.max(1e-9, ...series.flat().filter((v) => v !== null));
  const n = series[0].length;
  const x = (i) => (n <= 1 ? w : (i / (n - 1)) * w);
  const y = (v) => hgt - pad - (v / max) * (hgt - 2 * pad);
  el.replaceChildren();
  series.forEach((values, s) => {
    let run = [];
    const flush = () => {
      if (run.length === 0) return;
      const pts = run.length === 1 ? [run[0], [run[0][0] + 0.01, run[0][1]]] : run;
      const d = pts.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
      if (s === 0) el.append(svg('path', { d: `${d}L${pts.at(-1)[0].toFixed(1)},${hgt}L${pts[0][0].toFixed(1)},${hgt}Z`, class: `area ${classes[s]}` }));
      el.append(svg('path', { d, class: `line ${classes[s]}` }));
      run = [];
    };
    values.forEach((v, i) => { if (v === null) flush(); else run.push([x(i), y(v)]); });
    flush();
  });
}

function setFigure(name, text) {
  $(`[data-figure="${name}"]`).textContent = text;
}

function renderCards(st) {
  const { lastMinute: m, window: w, series } = st;
  setFigure('requests', fmt.int(w.requests));
  setFigure('request-rate', `${fmt.rate(m.requestsPerS)} req/s over the last minute`);
  setFigure('tokens', fmt.int(w.completionTokens));
  setFigure('token-rate', `${fmt.rate(m.tokensPerS)} tokens/s over the last minute`);
  setFigure('latency', m.p50Ms === null ? 'idle' : `${fmt.ms(m.p50Ms)} · ${fmt.ms(m.p95Ms)}`);
  setFigure('latency-window', `10 min: p50 ${fmt.ms(w.p50Ms)}, p95 ${fmt.ms(w.p95Ms)}`);
  const errTotal = Object.values(w.errors).reduce((a, n) => a + n, 0);
  setFigure('errors', fmt.int(errTotal));
  $('[data-figure="errors"]').classList.toggle('bad', errTotal > 0);
  const codes = Object.entries(w.errors).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
  setFigure('error-codes', codes.length ? codes.join(' · ') : 'none');
  sparkline($('[data-chart="requests"]'), [series.requests], ['c-req']);
  sparkline($('[data-chart="tokens"]'), [series.completionTokens.map((t) => t / series.pointS)], ['c-tok']);
  sparkline($('[data-chart="latency"]'), [series.p95Ms, series.p50Ms], ['c-p95', 'c-p50']);
  sparkline($('[data-chart="errors"]'), [series.errors], ['c-err']);
}

const STATE_CLASS = { ONLINE: 'good', FAILING: 'bad' };
const TRUST_TEXT = { verified: '✓ verified', probing: '… probing', mismatch: '✗ mismatch', 'probe-error': '! probe failed', off: 'not checked' };

function replicaTable(replicas) {
  const head = h('tr', {}, ['host', 'address', 'device', 'tokens/s', 'queue', 'state', 'trust']
    .map((t) => h('th', { class: t === 'tokens/s' || t === 'queue' ? 'num' : undefined }, t)));
  const rows = replicas.map((r) => h('tr', { 'data-peer': r.peerId },
    h('td', { class: 'mono', title: r.peerId }, fmt.peer(r.peerId)),
    h('td', { class: 'mono', title: r.grpc }, r.grpc),
    h('td', {}, r.device),
    h('td', { class: 'num' }, fmt.rate(r.throughput)),
    h('td', { class: 'num' }, String(r.queue)),
    h('td', { class: STATE_CLASS[r.state] ?? 'warn', title: r.error ? `latest call failed: ${r.error}` : undefined },
      r.state, r.error ? h('small', { class: 'code' }, r.error) : null),
    h('td', { class: `trust-${r.trust}`, title: `probes: ${r.probes.ok} ok, ${r.probes.mismatch} mismatch, ${r.probes.error} failed` }, TRUST_TEXT[r.trust] ?? r.trust)));
  return h('table', { class: 'replicas' }, h('thead', {}, head), h('tbody', {}, rows));
}

function renderSwarm(data) {
  const levels = data.swarm.map((level) => h('div', { class: 'level' },
    h('div', { class: 'level-name' }, level.name),
    h('div', { class: 'experts' }, level.experts.map((e) => h('article', { class: `expert${e.replicas.length ? '' : ' missing'}`, 'data-expert': e.id },
      h('header', {},
        h('span', { class: 'expert-id mono' }, e.id),
        e.replicas.length
          ? h('span', { class: 'badge ok' }, `${e.replicas.length} replica${e.replicas.length === 1 ? '' : 's'}`)
          : h('span', { class: 'badge none' }, 'NO REPLICA')),
      e.replicas.length ? replicaTable(e.replicas) : h('p', { class: 'bad' }, 'No live replica: requests whose path needs this expert wait, then fail with 503.'))))));
  $('#levels').replaceChildren(...levels);
  const experts = data.swarm.flatMap((l) => l.experts);
  const served = experts.filter((e) => e.replicas.length > 0).length;
  const hosts = new Set(experts.flatMap((e) => e.replicas.map((r) => r.peerId))).size;
  const cov = $('#coverage');
  cov.textContent = `${served}/${experts.length} experts served · ${hosts} host${hosts === 1 ? '' : 's'}`;
  cov.classList.toggle('bad', served < experts.length);
}

function renderPaths(paths) {
  const top = paths.slice(0, 12);
  const max = Math.max(1, ...top.map((p) => p.count));
  const rows = top.map((p) => {
    const bar = h('div', { class: 'bar' });
    bar.style.width = `${(100 * p.count) / max}%`;
    return h('tr', {}, h('td', { class: 'mono' }, p.path.join(' → ')), h('td', { class: 'num' }, fmt.int(p.count)), h('td', { class: 'bar-cell' }, bar));
  });
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { class: 'muted' }, 'No request yet.')));
  if (paths.length > top.length) rows.push(h('tr', {}, h('td', { class: 'muted' }, `… and ${paths.length - top.length} more paths`)));
  $('#paths').replaceChildren(...rows);
}

/** A host's change of experts, as the router saw it (a migration shows as a take-up, then a drop). */
function moveText(m) {
  const host = `host ${fmt.peer(m.peerId)}`;
  if (m.from.length === 0) return `${host} took up ${m.to.join(', ')}`;
  if (m.to.length === 0) return `${host} dropped ${m.from.join(', ')}`;
  return `${host} moved from ${m.from.join(', ')} to ${m.to.join(', ')}`;
}

function renderEvents(st) {
  const events = [
    ...st.failovers.map((f) => ({ at: f.at, kind: 'failover', text: `session on ${f.expert} replayed on another replica (${f.reason})` })),
    ...st.moves.map((m) => ({ at: m.at, kind: 'move', text: moveText(m) })),
  ].sort((a, b) => b.at - a.at).slice(0, 30);
  const items = events.map((e) => h('li', { class: e.kind },
    h('span', { class: 'when muted' }, fmt.ago(st.now - e.at)), h('span', { class: `tag ${e.kind}` }, e.kind), h('span', {}, e.text)));
  if (items.length === 0) items.push(h('li', { class: 'muted' }, 'None: no session moved and no host changed experts.'));
  $('#events').replaceChildren(...items);
}

function render(data) {
  $('#model-name').textContent = data.model.name;
  $('#model-levels').textContent = `${data.model.levels.length} levels · ${data.model.levels.map((l) => `${l.name}: ${l.experts.length} experts`).join(' · ')}`;
  renderCards(data.stats);
  renderSwarm(data);
  renderPaths(data.stats.paths);
  renderEvents(data.stats);
  $('#main').hidden = false;
}

function setStatus(text, kind) {
  const el = $('#status');
  el.textContent = text;
  el.className = `status ${kind}`;
}

let timer;
const needsKey = () => document.body.dataset.auth === 'bearer';

function askForKey(message) {
  clearTimeout(timer);
  $('#key-form').hidden = false;
  $('#key-error').textContent = message;
  setStatus('API key needed', 'warn');
  $('#key-input').focus();
}

async function poll() {
  const key = sessionStorage.getItem(KEY_ITEM);
  if (needsKey() && !key) return askForKey('');
  try {
    const r = await fetch(STATS_URL, { headers: key ? { authorization: `Bearer ${key}` } : {}, cache: 'no-store' });
    if (r.status === 401) {
      sessionStorage.removeItem(KEY_ITEM);
      return askForKey('The router refused that key.');
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    render(await r.json());
    setStatus(`live · ${new Date().toLocaleTimeString('en-GB')}`, 'good');
  } catch (err) {
    setStatus(`router unreachable (${err.message}); retrying`, 'bad');
  }
  timer = setTimeout(poll, POLL_MS);
}

$('#key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY_ITEM, $('#key-input').value.trim());
  $('#key-input').value = '';
  $('#key-form').hidden = true;
  setStatus('connecting…', '');
  void poll();
});

void poll();
