// The sinktrap analyst page. Everything shown here comes from malware and
// attackers: values are only ever put into the page as text (textContent,
// createTextNode), never as HTML, and links are built from validated parts.
import uPlot from '/vendor/uPlot.esm.js';

const view = document.getElementById('view');
let csrf = null;

// --- DOM helpers -----------------------------------------------------------

// Characters that change how text is shown without being seen (bidi
// overrides, zero-width, other format characters: Unicode Cf), as they come
// in hostile names, URLs and headers, shown as escapes: `\u{202E}`.
const INVISIBLE = /\p{Cf}/gu;
function visible(s) {
  return String(s).replace(INVISIBLE, (c) => '\\u{' + c.codePointAt(0).toString(16).toUpperCase() + '}');
}

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = visible(v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(visible(c)));
  }
  return el;
}

// Only our own routes and API paths are ever linked.
function safeHref(v) {
  const s = String(v);
  if (s.startsWith('#/') || s.startsWith('/api/')) return s;
  return '#/';
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function fmtTime(usec) {
  if (usec === null || usec === undefined) return '';
  const d = new Date(Number(usec) / 1000);
  return isNaN(d) ? '' : d.toISOString().replace('T', ' ').replace('Z', '');
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  if (n < 1024) return n + ' B';
  if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1048576).toFixed(1) + ' MiB';
}

const isSha = (s) => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
const hostLink = (ip) => h('a', { href: '#/host/' + encodeURIComponent(ip), class: 'host' }, ip);

function table(cols, rows, empty) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, empty || 'nothing yet');
  return h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c[0])))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map((c) => {
      const v = c[1](r);
      return h('td', {}, v instanceof Node ? v : (v === null || v === undefined ? '' : String(v)));
    })))));
}

// --- API -------------------------------------------------------------------

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.method && opts.method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(path, { credentials: 'same-origin', ...opts, headers });
  if (r.status === 401) {
    window.location.assign('/login');
    throw new Error('signed out');
  }
  const j = await r.json().catch(() => ({ error: 'bad answer (' + r.status + ')' }));
  if (!r.ok) throw new Error(j.error || ('error ' + r.status));
  return j;
}

function query(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null) u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}

// --- event summaries ---------------------------------------------------------

function summary(ev) {
  if (!ev || typeof ev !== 'object') return '';
  const parts = [];
  const add = (label, v) => { if (v !== undefined && v !== null && v !== '') parts.push(label + ' ' + String(v)); };
  if (ev.dns) { add('query', ev.dns.rrname); add('type', ev.dns.rrtype); add('rcode', ev.dns.rcode); }
  if (ev.sinkhole) {
    const sh = ev.sinkhole;
    add(sh.action === 'forward' ? 'forwarded' : 'sinkholed', sh.reason);
    add('through the alias', sh.cname);
    add('by rule', sh.rule);
    if (sh.list) add('in', sh.list + (sh.line ? ':' + sh.line : ''));
    add('answer', sh.answer);
  }
  if (ev.sinkhole_map) { add('domain', ev.sinkhole_map.domain); add('address', ev.sinkhole_map.address); }
  if (ev.app_proto) add('protocol', ev.app_proto);
  if (ev.trap) { add('domain', ev.trap.domain); add('end', ev.trap.end); }
  if (ev.http) { add('method', ev.http.http_method); add('host', ev.http.hostname); add('url', ev.http.url); add('request', ev.http.url ? null : ev.http.request_line); add('user-agent', ev.http.http_user_agent); add('status', ev.http.status); }
  if (ev.fileinfo) { add('payload', ev.fileinfo.sha256); add('size', ev.fileinfo.size); add('kind', ev.fileinfo.kind); }
  if (ev.flow) { add('packets', (ev.flow.pkts_toserver || 0) + (ev.flow.pkts_toclient || 0)); add('bytes', (ev.flow.bytes_toserver || 0) + (ev.flow.bytes_toclient || 0)); }
  if (ev.alert) add('alert', ev.alert.signature);
  if (ev.credentials) { add('user', ev.credentials.username); add('password', ev.credentials.password); }
  return parts.join(' · ');
}

function rawJson(ev) {
  return h('details', {}, h('summary', {}, 'JSON'), h('pre', { class: 'json' }, JSON.stringify(ev, null, 2)));
}

// --- paging ------------------------------------------------------------------

function pager(res, onPage) {
  const from = res.items.length === 0 ? 0 : res.offset + 1;
  const to = res.offset + res.items.length;
  // A total counted only so far ahead is a lower bound: there may be more pages.
  const more = res.total_exact === false;
  return h('div', { class: 'pager' },
    h('button', { type: 'button', class: 'prev', disabled: res.offset === 0 ? 'disabled' : null,
      on: { click: () => onPage(Math.max(0, res.offset - res.limit)) } }, '‹ Previous'),
    h('span', { class: 'range' }, `${from}–${to} of ${more ? 'more than ' : ''}${res.total}`),
    h('button', { type: 'button', class: 'next', disabled: (to >= res.total && !more) || res.items.length < res.limit ? 'disabled' : null,
      on: { click: () => onPage(res.offset + res.limit) } }, 'Next ›'));
}

function filterForm(fields, values, onSubmit) {
  const inputs = {};
  const form = h('form', { class: 'filters', on: { submit: (e) => {
    e.preventDefault();
    const v = {};
    for (const [k, el] of Object.entries(inputs)) v[k] = el.value.trim();
    onSubmit(v);
  } } },
  fields.map((f) => {
    inputs[f] = h('input', { name: f, placeholder: f.replace('_', ' '), value: values[f] || '' });
    return h('label', {}, inputs[f]);
  }),
  h('button', { type: 'submit' }, 'Search'));
  return form;
}

// A list view: filters, paging, a table.
function listView(title, endpoint, fields, cols, extra) {
  return async (state) => {
    // Only the view's own filters, each shown in its field: a link cannot
    // apply one the analyst does not see.
    const values = {};
    for (const f of fields) if (state[f] !== undefined) values[f] = state[f];
    const box = h('div');
    const load = async (offset) => {
      const params = { ...values, limit: 50, offset };
      const res = await api(endpoint + query(params));
      clear(box);
      box.append(pager(res, load), table(cols, res.items, 'no matching records'));
      if (extra) box.append(extra(values));
    };
    clear(view);
    view.append(h('h2', {}, title), filterForm(fields, values, (v) => {
      Object.assign(values, v);
      load(0).catch(showError);
    }), box);
    await load(0);
  };
}

// --- views -------------------------------------------------------------------

function card(label, value, id) {
  return h('div', { class: 'card' }, h('div', { class: 'value', id }, value === null || value === undefined ? '0' : String(value)), h('div', { class: 'label' }, label));
}

async function overview() {
  const s = await api('/api/stats');
  const t = (s.totals && s.totals[0]) || {};
  clear(view);
  const chart = h('div', { id: 'timeline', class: 'chart' });
  view.append(
    h('h2', {}, 'Overview'),
    t.complete === false
      ? h('p', { class: 'note', id: 'totals-partial' },
        'These totals stopped taking new names, hosts and addresses at their memory bound: ' +
        'counts of hosts and domains are lower bounds and newer names may be missing from ' +
        'the top lists. Searches still find every event (they ask the store).')
      : '',
    h('div', { class: 'cards' },
      card('DNS queries sinkholed', t.dns_queries, 'count-dns'),
      card('trap connections', t.trap_connections, 'count-trap'),
      card('payloads', t.payloads, 'count-payloads'),
      card('infected hosts', t.hosts, 'count-hosts'),
      card('domains', t.domains, 'count-domains')),
    h('h3', {}, 'Timeline (per minute)'), chart,
    h('div', { class: 'grid' },
      h('section', {}, h('h3', {}, 'Top sinkholed domains'),
        table([['domain', (r) => r.domain], ['queries', (r) => r.n], ['hosts', (r) => r.hosts]], s.top_domains)),
      h('section', {}, h('h3', {}, 'Top infected hosts'),
        table([['host', (r) => hostLink(r.ip)], ['events', (r) => r.n], ['trap', (r) => r.trap]], s.top_hosts)),
      h('section', {}, h('h3', {}, 'Top ports'),
        table([['port', (r) => r.port], ['proto', (r) => r.proto], ['connections', (r) => r.n]], s.top_ports)),
      h('section', {}, h('h3', {}, 'Top protocols'),
        table([['protocol', (r) => r.protocol], ['connections', (r) => r.n]], s.top_protocols)),
      h('section', {}, h('h3', {}, 'Health'),
        table([['time', (r) => fmtTime(r.ts)], ['event', (r) => (r.event && r.event.event_type) || ''], ['detail', (r) => summary(r.event) || (r.event && r.event.alert ? r.event.alert.signature : '')]], s.health, 'no stats or alerts yet')),
      h('section', {}, h('h3', {}, 'All events'),
        table([['type', (r) => r.event_type], ['count', (r) => r.n]], s.counts))));
  drawTimeline(chart, s.timeline || []);
}

function drawTimeline(el, rows) {
  if (!uPlot || rows.length === 0) {
    el.append(h('p', { class: 'empty' }, rows.length ? 'chart unavailable' : 'no events yet'));
    return;
  }
  const data = [rows.map((r) => r.t), rows.map((r) => r.dns || 0), rows.map((r) => r.trap || 0), rows.map((r) => r.flow || 0)];
  const opts = {
    width: Math.max(300, Math.min(1100, (view.clientWidth || 900) - 20)),
    height: 220,
    series: [{}, { label: 'DNS', stroke: '#3273dc', width: 2 }, { label: 'trap', stroke: '#d9534f', width: 2 }, { label: 'sessions', stroke: '#5cb85c', width: 2 }],
  };
  // eslint-disable-next-line no-new
  new uPlot(opts, data, el);
}

async function hosts(state) {
  return listView('Hosts', '/api/hosts', [], [
    ['host', (r) => hostLink(r.ip)], ['events', (r) => r.events], ['DNS queries', (r) => r.dns],
    ['trap connections', (r) => r.trap], ['payloads', (r) => r.payloads], ['domains', (r) => r.domains],
    ['first seen', (r) => fmtTime(r.first_seen)], ['last seen', (r) => fmtTime(r.last_seen)],
  ])(state);
}

// A session is named by its flow id (a decimal string: it may not fit a JS number),
// the SESSION of `sinktrap sessions` and the flow_id of its events.
function pcapButton(id) {
  const s = String(id ?? '');
  if (!/^[1-9][0-9]{0,18}$/.test(s)) return '';
  return h('a', { href: '/api/sessions/' + s + '/pcap', class: 'button pcap', download: 'session-' + s + '.pcap' }, 'PCAP');
}

function payloadLink(sha) {
  if (!isSha(sha)) return '';
  return h('a', { href: '/api/payloads/' + sha, class: 'button zip', download: sha + '.zip', title: 'zip, password: infected' }, 'zip');
}

async function host(state, ip) {
  const d = await api('/api/hosts/' + encodeURIComponent(ip));
  clear(view);
  view.append(h('h2', {}, 'Host ', h('span', { class: 'host-ip', id: 'host-ip' }, d.ip)));
  view.append(h('p', {}, h('a', { href: '/api/pcap' + query({ host: d.ip }), class: 'button', download: 'host.pcap' }, 'All packets of this host (PCAP)')));
  view.append(h('h3', {}, 'Domains queried'), table([['domain', (r) => r.domain], ['queries', (r) => r.queries], ['first', (r) => fmtTime(r.first_seen)]], d.domains));
  view.append(h('h3', {}, 'Timeline'));
  const items = d.events.map((e) => {
    const ev = e.event || {};
    const shas = [];
    if (ev.fileinfo && isSha(ev.fileinfo.sha256)) shas.push(ev.fileinfo.sha256);
    if (ev.trap && Array.isArray(ev.trap.payloads)) for (const p of ev.trap.payloads) if (isSha(p)) shas.push(p);
    return h('li', { class: 'ev ev-' + String(e.event_type).replace(/[^a-z_]/g, '') },
      h('span', { class: 'time' }, fmtTime(e.ts)), ' ',
      h('span', { class: 'type' }, e.event_type), ' ',
      h('span', { class: 'conn' }, `${e.src_ip || ''}${e.src_port ? ':' + e.src_port : ''} → ${e.dest_ip || ''}${e.dest_port ? ':' + e.dest_port : ''} ${e.proto || ''}`), ' ',
      e.domain ? h('span', { class: 'domain' }, e.domain) : '', ' ',
      h('span', { class: 'summary' }, summary(ev)), ' ',
      shas.map((s) => payloadLink(s)),
      rawJson(ev));
  });
  view.append(items.length ? h('ol', { class: 'timeline', id: 'host-timeline' }, items) : h('p', { class: 'empty' }, 'no events'));
  view.append(h('h3', {}, 'Captured sessions'), table(sessionCols(), d.sessions, 'no captured sessions'));
}

function sessionCols() {
  return [
    ['session', (r) => r.flow_id], ['start', (r) => fmtTime(r.start_ts)], ['source', (r) => hostLink(r.src_ip)], ['sport', (r) => r.src_port],
    ['destination', (r) => r.dest_ip], ['dport', (r) => r.dest_port], ['proto', (r) => r.proto],
    ['packets', (r) => r.packets !== undefined ? r.packets : (r.pkts_toserver || 0) + (r.pkts_toclient || 0)],
    ['bytes', (r) => fmtBytes(r.bytes !== undefined ? r.bytes : (r.bytes_toserver || 0) + (r.bytes_toclient || 0))],
    ['community id', (r) => r.community_id], ['', (r) => pcapButton(r.flow_id)],
  ];
}

const sessions = (state) => listView('Sessions', '/api/sessions',
  ['host', 'port', 'proto', 'domain', 'since', 'until', 'community_id', 'session'],
  [...sessionCols().slice(0, 9), ['domain', (r) => r.domain], ...sessionCols().slice(9)],
  (v) => h('p', {}, v.session
    ? pcapButton(v.session)
    // a Community ID names its sessions alone: the download takes no other filter
    : v.community_id
      ? h('a', { href: '/api/pcap' + query({ community_id: v.community_id }), class: 'button', download: 'sinktrap.pcap' }, 'Download every packet of this Community ID (PCAP)')
      : h('a', { href: '/api/pcap' + query({ host: v.host, port: v.port, proto: v.proto, domain: v.domain, since: v.since, until: v.until }), class: 'button', download: 'sinktrap.pcap' }, 'Download all matching packets (PCAP)')))(state);

const evCols = [
  ['time', (r) => fmtTime(r.ts)], ['host', (r) => (r.src_ip ? hostLink(r.src_ip) : '')],
  ['destination', (r) => `${r.dest_ip || ''}${r.dest_port ? ':' + r.dest_port : ''}`],
  ['domain', (r) => r.domain], ['detail', (r) => summary(r.event)], ['', (r) => rawJson(r.event)],
];
const dns = (state) => listView('DNS log', '/api/dns', ['host', 'domain', 'since', 'until'], evCols)(state);
const trap = (state) => listView('Trap log', '/api/trap', ['host', 'port', 'proto', 'domain', 'since', 'until'], evCols)(state);
const payloads = (state) => listView('Payloads', '/api/payloads', ['host'], [
  ['sha256', (r) => h('code', {}, r.sha256)], ['size', (r) => fmtBytes(r.size)], ['kind', (r) => r.kind],
  ['name', (r) => r.name], ['host', (r) => (r.src_ip ? hostLink(r.src_ip) : '')], ['domain', (r) => r.domain],
  ['seen', (r) => r.seen], ['first seen', (r) => fmtTime(r.first_seen)],
  ['last seen', (r) => fmtTime(r.last_seen)], ['download', (r) => payloadLink(r.sha256)],
])(state).then(() => view.insertBefore(h('p', { class: 'note' }, 'Payloads download as zip archives encrypted with the password "infected".'), view.children[1]));

async function lists() {
  const d = await api('/api/lists');
  clear(view);
  const out = h('pre', { id: 'check-result', class: 'json' });
  const input = h('input', { name: 'name', id: 'check-name', placeholder: 'domain name or address' });
  const entries = new Map((d.entries || []).map((e) => [e.path, e]));
  const reload = d.last_reload; // {ts, stats: {rules, duration_ms, lists: [...]}} or null
  const reloaded = new Map(((reload && reload.stats && reload.stats.lists) || []).map((e) => [e.path, e]));
  const workerRules = d.dns_stats && d.dns_stats.stats ? d.dns_stats.stats.rules : null;
  const num = (v) => (v === null || v === undefined ? '' : String(v));
  const rows = (d.lists || []).map((l) => ({ ...l, e: entries.get(l.path) || {}, r: reloaded.get(l.path) }));
  view.append(h('h2', {}, 'Lists'),
    h('p', { id: 'lists-summary' },
      `${d.sinkholed_domains} domains in the sinkhole map`,
      d.rules !== null && d.rules !== undefined ? ` · ${d.rules} rules in the list files` : '',
      workerRules !== null && workerRules !== undefined ? ` · ${workerRules} rules loaded by the DNS worker (stats of ${fmtTime(d.dns_stats.ts)})` : '',
      reload ? ` · last reload ${fmtTime(reload.ts)}` : ' · not reloaded since the DNS worker started'),
    d.lists_error ? h('p', { class: 'error' }, 'The lists do not load: ' + d.lists_error) : '',
    table([
      ['list file', (r) => r.path],
      ['kind', (r) => (r.e.allow === undefined ? '' : (r.e.clients ? (r.e.allow ? 'clients exempt' : 'clients in quarantine') : (r.e.allow ? 'allow' : 'block')))],
      ['format', (r) => r.e.format],
      ['entries', (r) => h('span', { class: 'entries' }, num(r.e.entries))],
      ['invalid lines', (r) => num(r.e.invalid)],
      ['at last reload', (r) => (r.r ? num(r.r.entries) : '')],
      ['size', (r) => fmtBytes(r.size)],
      ['modified', (r) => (r.mtime ? fmtTime(r.mtime * 1e6) : 'missing')],
      ['', (r) => (reload && r.mtime && r.mtime * 1e6 > reload.ts ? 'changed since the last reload' : '')],
    ], rows, 'no lists configured'),
    h('p', { class: 'note' }, 'Entries are counted in the files as they are now, with the DNS worker\'s parser; "at last reload" is what the DNS worker took at its last reload (SIGHUP).'),
    h('h3', {}, 'Which entry decides this name (or address)?'),
    h('form', { class: 'filters', id: 'check-form', on: { submit: async (e) => {
      e.preventDefault();
      try {
        const r = await api('/api/lists/check' + query({ name: input.value.trim() }));
        out.textContent = (r.sinkholed ? 'SINKHOLED\n' : 'not sinkholed\n') + r.explanation;
      } catch (err) { out.textContent = err.message; }
    } } }, input, h('button', { type: 'submit' }, 'Check')),
    out,
    h('h3', {}, 'Queries by deciding list'),
    table([['list', (r) => r.list || '(no list entry)'], ['reason', (r) => r.reason], ['queries', (r) => r.queries], ['domains', (r) => r.domains]], d.decided_by, 'no queries yet'));
}

// --- routing -----------------------------------------------------------------

function showError(e) {
  view.append(h('p', { class: 'error', role: 'alert' }, e.message || String(e)));
}

async function route() {
  const hash = window.location.hash || '#/overview';
  const [path, qs] = hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  const state = Object.fromEntries(new URLSearchParams(qs || ''));
  const name = parts[0] || 'overview';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === name || (name === 'host' && a.dataset.view === 'hosts'));
  clear(view);
  view.append(h('p', { class: 'loading' }, 'loading…'));
  try {
    if (name === 'host' && parts[1]) await host(state, decodeURIComponent(parts[1]));
    else if (name === 'hosts') await hosts(state);
    else if (name === 'sessions') await sessions(state);
    else if (name === 'dns') await dns(state);
    else if (name === 'trap') await trap(state);
    else if (name === 'payloads') await payloads(state);
    else if (name === 'lists') await lists(state);
    else await overview(state);
  } catch (e) {
    clear(view);
    showError(e);
  }
}

async function start() {
  const s = await api('/api/session');
  csrf = s.csrf;
  document.getElementById('user').textContent = s.user || '';
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('/api/logout', { method: 'POST' }); } catch (e) { /* gone already */ }
    window.location.assign('/login');
  });
  window.addEventListener('hashchange', route);
  await route();
}

start().catch(showError);
