// The dashboard: asks for a tenant's API key once (or takes it from `#key=...`), keeps
// it in sessionStorage only, fetches /v1/analytics for a range of days and draws it,
// with the tenant's live health, alerts and errors (/v1/health, /v1/alerts, /v1/errors,
// fetched at the same time and independent of the range) in their own cards above.
//
// DOM contract (read by host/tests/dashboard.rs, useful to any script): `#app` carries
// `data-state` = loading | key | ready | error (with `data-error` = unauthorized |
// network | http | range | render and the message in `#status`); `ready` and `error`
// are set once all four answers are in. Every number shown is an element
// with `data-metric` (a path mirroring the JSON: `funnel.hot`, `conversion.warm`,
// `questions.budget.answer_rate`, `followups.24.sent`, `experiments.opener.control.rate`,
// `classes.2026-11-01.hot`, ...) and `data-value` (the JSON value as text; `null` for none).
// The live cards add `health.status` (healthy | degraded | unhealthy),
// `health.window_seconds`, `health.<check>.figure` / `.level` / `.warning` / `.critical`
// / `.samples`, `alerts.active.count`, `alerts.active.<check>.severity` / `.figure`,
// `alerts.resolved.count`, `alerts.resolved.<i>.severity` / `.figure`, `errors.<category>`
// and `errors.recent.count`. `#health-card` and `#errors-card` carry `data-card-state` =
// loading | ready | error: one of them failing says so in that card and blanks nothing else.

import { h, count, num, pct, duration, funnel, stackedBars, rateBars, intervals } from './charts.js';

const $ = (id) => document.getElementById(id);
const root = $('app');

/** The key lives in this tab's sessionStorage only (or in memory if storage is off). */
const keys = {
  name: 'qualify.dashboard.key',
  memory: null,
  get() {
    try { return sessionStorage.getItem(this.name) || this.memory; } catch { return this.memory; }
  },
  set(key) {
    this.memory = key;
    try { sessionStorage.setItem(this.name, key); } catch { /* memory only */ }
  },
  clear() {
    this.memory = null;
    try { sessionStorage.removeItem(this.name); } catch { /* nothing stored */ }
  },
};

/** Charts drawn from the last report, redrawn at the new width when the window resizes. */
let charts = [];
/** Only the answer to the latest request is shown. */
let requestId = 0;

// ---- page state ------------------------------------------------------------------------

function setState(state, message = '', error = null) {
  root.dataset.state = state;
  if (error) root.dataset.error = error; else delete root.dataset.error;
  root.setAttribute('aria-busy', String(state === 'loading'));
  const status = $('status');
  status.textContent = message;
  status.hidden = !message;
  status.className = state === 'error' ? 'notice error' : 'notice';
}

function showReport(visible) {
  $('report').hidden = !visible;
  $('tenant').hidden = !visible;
}

function askForKey(message) {
  showReport(false);
  $('monitor').hidden = true;
  $('range').hidden = true;
  $('forget').hidden = true;
  $('key-form').hidden = false;
  if (message) setState('error', message, 'unauthorized');
  else setState('key', 'Enter an API key to see its tenant’s figures.');
  $('key').focus();
}

function fail(kind, message) {
  showReport(false);
  setState('error', message, kind);
}

// ---- loading ---------------------------------------------------------------------------

/**
 * GETs `path` with the key. Never throws: `{res, body}` for an answer (body null when it
 * is not JSON), `{error}` when the server could not be reached.
 */
async function getJson(path, key) {
  try {
    const res = await fetch(path, {
      headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
    const body = await res.json().catch(() => null);
    return { res, body };
  } catch (error) {
    return { error };
  }
}

/**
 * Fetches the report for `range` ({from, to}, or the server's default) and the live
 * health, alerts and errors, all four at once, and draws them.
 */
async function load(range) {
  const key = keys.get();
  if (!key) return askForKey();
  const id = ++requestId;
  $('key-form').hidden = true;
  $('range').hidden = false;
  $('forget').hidden = false;
  setState('loading', 'Loading…');
  for (const card of ['health-card', 'errors-card']) $(card).dataset.cardState = 'loading';
  const query = range ? `?${new URLSearchParams(range)}` : '';
  const [analytics, health, alerts, errors] = await Promise.all([
    getJson(`/v1/analytics${query}`, key),
    getJson('/v1/health', key),
    getJson('/v1/alerts', key),
    getJson('/v1/errors', key),
  ]);
  if (id !== requestId) return;
  const { res, body, error } = analytics;
  const said = body?.error?.message ? `: ${body.error.message}` : '';
  if (res?.status === 401) {
    keys.clear();
    askForKey(`This key was not accepted by the server${said}. Check the key and enter it again.`);
    return;
  }
  // The live cards are drawn whatever became of the analytics, each from its own answer.
  renderMonitor(health, alerts, errors);
  if (error) {
    fail('network', `Could not reach the server (${error.message}). Check that it is running, then press Apply to try again.`);
  } else if (res.status === 422) {
    fail('range', `The server refused this range${said}.`);
  } else if (res.status === 429) {
    const wait = res.headers.get('retry-after');
    fail('http', `Too many requests for this tenant${wait ? `; try again in ${wait} s` : ''}.`);
  } else if (!res.ok || !body || !body.funnel) {
    fail('http', `The server answered ${res.status} ${res.statusText}${said || ' (no analytics in the answer)'}.`);
  } else {
    try {
      render(body);
    } catch (e) {
      // A report this page does not understand: say so rather than leave half a page.
      fail('render', `The figures could not be drawn (${e.message}).`);
    }
  }
}

// ---- rendering -------------------------------------------------------------------------

/** An element showing `text` for the value at `path`. */
function metric(tag, path, value, text, attrs = {}) {
  const v = value === null || value === undefined ? 'null' : String(value);
  return h(tag, { ...attrs, 'data-metric': path, 'data-value': v }, text);
}

function empty(what = 'No data in this range.') {
  return h('p', { class: 'empty' }, what);
}

/** A chart slot: `draw(width)` gives the SVG, or null when there is nothing to draw. */
function chart(draw, none) {
  const slot = h('div', { class: 'plot' });
  charts.push({ slot, draw, none, width: 0 });
  return slot;
}

function drawCharts(force) {
  for (const c of charts) {
    const width = Math.round(Math.min(900, Math.max(280, c.slot.clientWidth || 600)));
    if (!force && Math.abs(width - c.width) < 8) continue;
    c.width = width;
    c.slot.replaceChildren(c.draw(width) || empty(c.none));
  }
}

function table(caption, head, rows) {
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells))));
}

function render(r) {
  charts = [];
  $('from').value = r.from;
  $('to').value = r.to;
  $('tenant').replaceChildren('Tenant ', metric('strong', 'tenant', r.tenant, r.tenant), ' · ',
    metric('span', 'range.from', r.from, r.from), ' to ', metric('span', 'range.to', r.to, r.to));
  $('headline').replaceChildren(...headline(r));
  $('funnel').replaceChildren(...funnelCard(r));
  $('classes').replaceChildren(...classesCard(r.classes_by_day || []));
  $('questions').replaceChildren(...questionsCard(r.questions || []));
  $('followups').replaceChildren(...followupsCard(r.followups || []));
  $('experiments').replaceChildren(...experimentsCard(r.experiments || []));
  showReport(true);
  drawCharts(true);
  setState('ready');
}

function tile(caption, main, ...sub) {
  return h('div', { class: 'tile' }, h('div', { class: 'big' }, main), h('div', { class: 'caption' }, caption),
    sub.length ? h('div', { class: 'sub' }, sub) : null);
}

function headline(r) {
  const t = r.to_hot || {};
  return [
    tile('inbound messages', metric('span', 'messages.inbound', r.messages?.inbound, count(r.messages?.inbound))),
    tile('opted out', metric('span', 'opt_outs.count', r.opt_outs?.count, count(r.opt_outs?.count)),
      metric('span', 'opt_outs.rate', r.opt_outs?.rate, pct(r.opt_outs?.rate)), ' of contacts'),
    tile('reached hot', metric('span', 'to_hot.contacts', t.contacts, count(t.contacts))),
    tile('time to hot (median)', metric('span', 'to_hot.median_minutes', t.median_minutes, duration(t.median_minutes)),
      'p90 ', metric('span', 'to_hot.p90_minutes', t.p90_minutes, duration(t.p90_minutes))),
    tile('messages to hot (median)', metric('span', 'to_hot.median_messages', t.median_messages, num(t.median_messages)),
      'p90 ', metric('span', 'to_hot.p90_messages', t.p90_messages, num(t.p90_messages))),
  ];
}

function funnelCard(r) {
  const f = r.funnel;
  const c = r.conversion || {};
  const stages = [
    { key: 'contacts', label: 'Contacts', count: f.contacts, conversion: null },
    { key: 'warm', label: 'Warm', count: f.warm, conversion: c.warm },
    { key: 'hot', label: 'Hot', count: f.hot, conversion: c.hot },
    { key: 'handed_off', label: 'Handed off', count: f.handed_off, conversion: c.handed_off },
  ];
  const plot = chart((w) => (f.contacts > 0 ? funnel(stages, w) : null));
  return [plot, table('Funnel (conversion from the stage before)', ['Stage', 'Contacts', 'Conversion'],
    stages.map((st) => [
      h('th', { scope: 'row' }, st.label),
      metric('td', `funnel.${st.key}`, st.count, count(st.count)),
      st.key === 'contacts' ? h('td', {}, '') : metric('td', `conversion.${st.key}`, st.conversion, pct(st.conversion)),
    ]))];
}

const CLASSES = [
  { key: 'cold', label: 'Cold' },
  { key: 'warm', label: 'Warm' },
  { key: 'hot', label: 'Hot' },
];

function classesCard(days) {
  const rows = days.map((d) => ({ day: d.day, values: CLASSES.map((c) => d[c.key] || 0) }));
  const any = rows.some((d) => d.values.some((v) => v > 0));
  const legend = h('ul', { class: 'legend' },
    CLASSES.map((c) => h('li', {}, h('span', { class: `swatch ${c.key}`, 'aria-hidden': 'true' }), c.label)));
  const plot = chart((w) => (any ? stackedBars(rows, CLASSES, w) : null));
  const numbers = h('details', {}, h('summary', {}, 'Numbers by day'),
    table('Contacts by class and day', ['Day', ...CLASSES.map((c) => c.label)],
      days.map((d) => [h('th', { scope: 'row' }, d.day),
        ...CLASSES.map((c) => metric('td', `classes.${d.day}.${c.key}`, d[c.key], count(d[c.key])))])));
  return any ? [legend, plot, numbers] : [plot, numbers];
}

function questionsCard(questions) {
  const rows = questions.map((q) => ({ label: q.id, rate: q.answer_rate, detail: `${count(q.answered_next)} of ${count(q.asked)}` }));
  const plot = chart((w) => (questions.some((q) => q.asked > 0) ? rateBars(rows, w, 'Share of questions answered by the next message') : null));
  if (!questions.length) return [plot];
  return [plot, table('Questions: answered by the lead’s next message', ['Question', 'Asked', 'Answered next', 'Rate'],
    questions.map((q) => [
      h('th', { scope: 'row' }, q.id),
      metric('td', `questions.${q.id}.asked`, q.asked, count(q.asked)),
      metric('td', `questions.${q.id}.answered_next`, q.answered_next, count(q.answered_next)),
      metric('td', `questions.${q.id}.answer_rate`, q.answer_rate, pct(q.answer_rate)),
    ]))];
}

function followupsCard(stages) {
  const rows = stages.map((f) => ({ label: `${f.stage_hours} h`, rate: f.response_rate, detail: `${count(f.replied)} of ${count(f.sent)}` }));
  const plot = chart((w) => (stages.some((f) => f.sent > 0) ? rateBars(rows, w, 'Share of follow-ups replied to, by stage') : null));
  if (!stages.length) return [plot];
  return [plot, table('Follow-ups by hours of silence', ['Stage', 'Sent', 'Replied', 'Rate'],
    stages.map((f) => [
      h('th', { scope: 'row' }, `${f.stage_hours} h`),
      metric('td', `followups.${f.stage_hours}.sent`, f.sent, count(f.sent)),
      metric('td', `followups.${f.stage_hours}.replied`, f.replied, count(f.replied)),
      metric('td', `followups.${f.stage_hours}.response_rate`, f.response_rate, pct(f.response_rate)),
    ]))];
}

function experimentsCard(experiments) {
  if (!experiments.length) return [empty('No experiments in this range.')];
  return experiments.map((x) => {
    const base = `experiments.${x.key}`;
    // A conversion metric has conversions, rate and rate_ci95; a numeric one (`kind`
    // numeric) mean and mean_ci95.
    const numeric = x.kind === 'numeric';
    const field = numeric ? 'mean' : 'rate';
    const fmt = numeric ? num : pct;
    const arms = (x.variants || []).map((v) => ({
      name: v.name,
      value: v[field] ?? null,
      ci: v[`${field}_ci95`] || null,
      winner: x.winner !== null && x.winner === v.name,
    }));
    const plot = chart((w) => (arms.some((a) => a.value !== null) ? intervals(arms, w, fmt, `${x.key}: ${field} by arm with 95 % intervals`) : null),
      'No exposures in this range.');
    const verdict = x.winner
      ? ['Winner: ', metric('strong', `${base}.winner`, x.winner, x.winner)]
      : [metric('span', `${base}.winner`, null, 'No winner yet')];
    return h('article', { class: 'experiment' },
      h('h3', {}, x.key),
      h('p', { class: 'meta' }, metric('span', `${base}.status`, x.status, x.status), ' · metric ',
        h('code', {}, x.metric || '—'), ' · ', ...verdict),
      x.verdict ? h('p', { class: 'verdict' }, x.verdict) : null,
      plot,
      table(`${x.key}: arms`, ['Arm', 'n', ...(numeric ? ['Mean'] : ['Conversions', 'Rate']), '95 % interval'],
        (x.variants || []).map((v) => {
          const ci = v[`${field}_ci95`] || [null, null];
          const p = `${base}.${v.name}`;
          return [
            h('th', { scope: 'row' }, v.name),
            metric('td', `${p}.n`, v.n, count(v.n)),
            numeric ? null : metric('td', `${p}.conversions`, v.conversions, count(v.conversions)),
            metric('td', `${p}.${field}`, v[field], fmt(v[field])),
            h('td', {}, metric('span', `${p}.ci_low`, ci[0], fmt(ci[0])), ' – ', metric('span', `${p}.ci_high`, ci[1], fmt(ci[1]))),
          ];
        })));
  });
}

// ---- health, alerts and errors ------------------------------------------------------------

/** What went wrong with one of the live cards' requests, in a sentence. */
function problem(r, what) {
  if (r.error) return `Could not reach the server (${r.error.message}).`;
  const said = r.body?.error?.message ? `: ${r.body.error.message}` : '';
  if (r.res.status === 429) {
    const wait = r.res.headers.get('retry-after');
    return `Too many requests for this tenant${wait ? `; try again in ${wait} s` : ''}.`;
  }
  return `The server answered ${r.res.status} ${r.res.statusText}${said || ` (no ${what} in the answer)`}.`;
}

/** A card's message in place of its figures; the rest of the page is untouched. */
function cardFailed(card, slot, message) {
  $(card).dataset.cardState = 'error';
  $(slot).replaceChildren(h('p', { class: 'notice error' }, message));
}

/** Milliseconds as `850 ms` or `2.5 s`. */
function millis(x) {
  if (x === null || x === undefined) return '—';
  return x < 1000 ? `${num(x)}\u00a0ms` : `${num(x / 1000)}\u00a0s`;
}

/** The checks the server makes: a readable name, how their figures read, what they count. */
const CHECKS = {
  p95_latency_ms: { label: 'Response time (p95)', fmt: millis, samples: 'requests' },
  error_rate: { label: 'Server error rate', fmt: pct, samples: 'requests' },
  webhook_failure_rate: { label: 'Webhook failure rate', fmt: pct, samples: 'webhooks' },
  outbox_stuck_minutes: { label: 'Outbox overdue', fmt: duration, samples: null },
};

function checkInfo(name) {
  return CHECKS[name] || { label: name, fmt: num, samples: 'samples' };
}

const STATUS = {
  healthy: { label: 'Healthy', says: 'Every check is within its thresholds.' },
  degraded: { label: 'Degraded', says: 'A check is over its warning threshold.' },
  unhealthy: { label: 'Unhealthy', says: 'A check is over its critical threshold.' },
};

const LEVELS = { ok: 'OK', warning: 'Warning', critical: 'Critical' };

/** A coloured badge that also says what it means: `known` maps values to their text. */
function badge(path, value, known, attrs = {}) {
  const kind = Object.hasOwn(known, value) ? value : 'unknown';
  const text = kind === 'unknown' ? String(value ?? '—') : (known[value].label ?? known[value]);
  return metric('span', path, value, text, { ...attrs, class: `badge ${kind}` });
}

/** A timestamp as `YYYY-MM-DD HH:MM:SS UTC` (UTC like the report's days), local in its title. */
function when(at) {
  const d = new Date(at);
  if (at === null || at === undefined || Number.isNaN(d.getTime())) return h('span', {}, String(at ?? '—'));
  return h('time', { datetime: d.toISOString(), title: d.toLocaleString() },
    `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`);
}

/** `300` seconds as `5 minutes`. */
function span(seconds) {
  const m = seconds / 60;
  if (seconds % 60 !== 0) return `${count(seconds)} seconds`;
  return m === 1 ? 'minute' : `${count(m)} minutes`;
}

function renderMonitor(health, alerts, errors) {
  $('monitor').hidden = false;
  try {
    renderHealth(health);
  } catch (e) {
    cardFailed('health-card', 'health', `The health could not be drawn (${e.message}).`);
  }
  try {
    renderAlerts(alerts);
  } catch (e) {
    $('alerts').replaceChildren(h('p', { class: 'notice error' }, `The alerts could not be drawn (${e.message}).`));
  }
  try {
    renderErrors(errors);
  } catch (e) {
    cardFailed('errors-card', 'errors', `The errors could not be drawn (${e.message}).`);
  }
}

function renderHealth(r) {
  const hl = r.body?.health;
  $('health-window').textContent = 'Live figures, not limited to the dates below.';
  if (r.error || !r.res.ok || !hl || !Array.isArray(hl.checks)) {
    cardFailed('health-card', 'health', `The health could not be loaded. ${problem(r, 'health')}`);
    return;
  }
  $('health-window').replaceChildren('Over the last ',
    metric('span', 'health.window_seconds', hl.window_seconds, span(hl.window_seconds)),
    ', whatever the dates below.');
  const status = h('p', { class: 'status-line' },
    badge('health.status', hl.status, STATUS), ' ',
    h('span', { class: 'muted' }, STATUS[hl.status]?.says ?? ''));
  const checks = h('ul', { class: 'checks' }, hl.checks.map((c) => {
    const info = checkInfo(c.name);
    const base = `health.${c.name}`;
    const samples = metric('span', `${base}.samples`, c.samples, count(c.samples));
    const figure = c.figure === null || c.figure === undefined
      ? [metric('span', `${base}.figure`, null, 'not enough data', { class: 'figure none' }), ' (', samples, ' samples)']
      : [metric('span', `${base}.figure`, c.figure, info.fmt(c.figure), { class: 'figure' }),
        info.samples ? [h('span', { class: 'muted' }, ' over ', samples, ` ${info.samples}`)] : null];
    const limits = c.warning === c.critical
      ? ['critical over ', metric('span', `${base}.critical`, c.critical, info.fmt(c.critical))]
      : ['warning over ', metric('span', `${base}.warning`, c.warning, info.fmt(c.warning)),
        ' · critical over ', metric('span', `${base}.critical`, c.critical, info.fmt(c.critical))];
    return h('li', { class: `check level-${Object.hasOwn(LEVELS, c.level) ? c.level : 'unknown'}` },
      h('div', { class: 'check-head' }, h('span', { class: 'check-name' }, info.label),
        badge(`${base}.level`, c.level, LEVELS)),
      h('div', { class: 'check-figure' }, figure),
      h('div', { class: 'limits' }, limits));
  }));
  $('health').replaceChildren(status, checks);
  $('health-card').dataset.cardState = 'ready';
}

function renderAlerts(r) {
  if (r.error || !r.res.ok || !Array.isArray(r.body?.active)) {
    $('alerts').replaceChildren(h('p', { class: 'notice error' }, `The alerts could not be loaded. ${problem(r, 'alerts')}`));
    return;
  }
  const active = r.body.active;
  const resolved = Array.isArray(r.body.resolved) ? r.body.resolved : [];
  const item = (a, base, end) => {
    const info = checkInfo(a.check);
    return h('li', { class: 'alert' },
      badge(`${base}.severity`, a.severity, LEVELS), ' ',
      h('strong', {}, info.label), ' at ',
      metric('span', `${base}.figure`, a.figure, a.figure === null || a.figure === undefined ? 'no figure' : info.fmt(a.figure)),
      h('div', { class: 'muted when' }, 'raised ', when(a.raised_at), end ? [' · resolved ', when(a.resolved_at)] : null));
  };
  const summary = h('p', { class: 'alerts-count' },
    metric('strong', 'alerts.active.count', active.length, count(active.length)),
    active.length === 1 ? ' active alert' : ' active alerts');
  const list = active.length
    ? h('ul', { class: 'alerts' }, active.map((a) => item(a, `alerts.active.${a.check}`, false)))
    : h('p', { class: 'empty' }, 'No active alerts.');
  const past = h('details', {},
    h('summary', {}, 'Recently resolved (', metric('span', 'alerts.resolved.count', resolved.length, count(resolved.length)), ')'),
    resolved.length
      ? h('ul', { class: 'alerts' }, resolved.map((a, i) => item(a, `alerts.resolved.${i}`, true)))
      : h('p', { class: 'empty' }, 'None resolved recently.'));
  $('alerts').replaceChildren(summary, list, past);
}

/** The error categories the server counts, in its order, with what each means. */
const CATEGORIES = [
  { key: 'script', label: 'Script', title: 'A tenant script failed (compile, runtime, limit, bad result)' },
  { key: 'extraction', label: 'Extraction', title: 'Facts from a message over the tenant’s limits' },
  { key: 'store', label: 'Store', title: 'The store failed' },
  { key: 'ghl', label: 'GoHighLevel', title: 'A GoHighLevel call failed' },
  { key: 'auth', label: 'Auth', title: 'A key was refused' },
  { key: 'input', label: 'Input', title: 'A request was malformed or invalid' },
];

function categoryLabel(key) {
  return CATEGORIES.find((c) => c.key === key)?.label ?? String(key);
}

function renderErrors(r) {
  const counts = r.body?.counts;
  if (r.error || !r.res.ok || !counts || typeof counts !== 'object' || !Array.isArray(r.body.recent)) {
    cardFailed('errors-card', 'errors', `The errors could not be loaded. ${problem(r, 'errors')}`);
    return;
  }
  const known = CATEGORIES.map((c) => c.key);
  const cats = [...CATEGORIES, ...Object.keys(counts).filter((k) => !known.includes(k)).map((k) => ({ key: k, label: k, title: null }))];
  const tiles = h('ul', { class: 'counts' }, cats.map((c) => {
    const n = counts[c.key] ?? 0;
    return h('li', { class: n > 0 ? 'count has' : 'count', title: c.title },
      metric('span', `errors.${c.key}`, n, count(n), { class: 'n' }), h('span', { class: 'caption' }, c.label));
  }));
  const recent = r.body.recent;
  const heading = h('h3', {}, 'Recent errors (', metric('span', 'errors.recent.count', recent.length, count(recent.length)), ')',
    h('span', { class: 'muted' }, ' newest first'));
  // Every field becomes a text node: messages are the server's (redacted) words about a
  // tenant's input and are never parsed as markup.
  const list = recent.length
    ? h('ol', { class: 'errors' }, recent.map((e) => h('li', {},
      h('div', { class: 'error-meta' }, when(e.at), ' ',
        h('span', { class: 'tag' }, categoryLabel(e.category)), ' ', h('code', { class: 'source' }, String(e.source ?? ''))),
      h('p', { class: 'message' }, String(e.message ?? '')))))
    : h('p', { class: 'empty' }, 'No errors recorded.');
  $('errors').replaceChildren(tiles, heading, list);
  $('errors-card').dataset.cardState = 'ready';
}

// ---- wiring ----------------------------------------------------------------------------

/** `YYYY-MM-DD` of a date, in UTC like the server's days. */
function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

/**
 * The range in the address (`?from=...&to=...`, put there by Apply so that a reload or a
 * bookmark shows the same days), or null for the server's default, the last 30 days.
 */
function rangeInAddress() {
  const query = new URLSearchParams(location.search);
  const [from, to] = [query.get('from'), query.get('to')];
  return from && to ? { from, to } : null;
}

function start() {
  // A key in the fragment (`/dashboard#key=...`, as printed by `qualify serve`) is taken
  // once and removed from the address bar, so it is not left in history or on screen.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.has('key')) {
    const key = fragment.get('key').trim();
    if (key) keys.set(key);
    history.replaceState(null, '', location.pathname + location.search);
  }
  const asked = rangeInAddress();
  const today = new Date();
  $('to').value = asked ? asked.to : isoDay(today);
  $('from').value = asked ? asked.from : isoDay(new Date(today.getTime() - 29 * 86_400_000));

  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('key').value.trim();
    if (!key) return;
    keys.set(key);
    $('key').value = '';
    load(rangeInAddress());
  });
  $('range').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = $('from').value;
    const to = $('to').value;
    if (from && to && from > to) {
      fail('range', 'The start date is after the end date.');
      return;
    }
    history.replaceState(null, '', `${location.pathname}?${new URLSearchParams({ from, to })}`);
    load({ from, to });
  });
  $('forget').addEventListener('click', () => {
    keys.clear();
    charts = [];
    for (const id of ['headline', 'funnel', 'classes', 'questions', 'followups', 'experiments', 'health', 'alerts', 'errors']) {
      $(id).replaceChildren();
    }
    askForKey();
  });
  let pending = false;
  window.addEventListener('resize', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      drawCharts(false);
    });
  });
  load(asked);
}

start();
