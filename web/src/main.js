// The dashboard: every 2 s it reads the monitor's /api/ endpoints and updates tiles, charts and
// tables in place (no reload). window.__dashboard exposes the last answers and the uPlot
// instances so the browser test can check what is drawn.
import './style.css';
import { getJSON, postJSON, errorText, onUnauthorized } from './api.js';
import { time_chart } from './charts.js';
import { openDetail, setupDetail } from './detail.js';
import { loadErrors } from './errors.js';
import { clock, ms, num, pct, rate } from './format.js';
import { keyOptions, refreshKeys } from './keys.js';
import { renderModelQueues, renderModels, renderRequests, renderWorkers } from './tables.js';
import { renderStatus, renderStatusUnreachable } from './status.js';
import { setupRange, windowQuery } from './range.js';
import { refreshStorage } from './storage.js';

const refreshMs = 2000;
const state = {
  window: '5m',
  to: null,  // a custom range's end (unix ms); null = now
  filter: { model: '', key: '', status: '', q: '' },
  nextCursor: null,
  paged: false,   // the user loaded older pages: stop replacing the first page
  refreshes: 0,
  last: {},
  session: null,  // {auth, role, name, texts} from /api/session; null = logged out
};
window.__dashboard = state;

const $ = (id) => document.getElementById(id);

const charts = {
  throughput: new time_chart($('chart-throughput'), [
    { label: 'requests/s', fill: 'rgba(47,111,222,.08)' },
    { label: 'errors/s', color: '#d6453d' },
  ]),
  tokens: new time_chart($('chart-tokens'), [{ label: 'tokens/s', color: '#1f9d61', fill: 'rgba(31,157,97,.08)' }]),
  latency: new time_chart($('chart-latency'), [
    // Buckets without successful requests have no percentile: points keep a lone one visible.
    { label: 'TTFT p50', color: '#7b4fd6', spanGaps: true, points: true },
    { label: 'TTFT p95', color: '#7b4fd6', dash: [4, 4], spanGaps: true, points: true },
    { label: 'total p50', color: '#2f6fde', spanGaps: true, points: true },
    { label: 'total p95', color: '#2f6fde', dash: [4, 4], spanGaps: true, points: true },
    { label: 'total p99', color: '#d58a00', dash: [2, 3], spanGaps: true, points: true },
  ], ' ms'),
  queue: new time_chart($('chart-queue'), [{ label: 'work queue', color: '#d58a00', fill: 'rgba(213,138,0,.08)', spanGaps: true }]),
};
state.charts = charts;

function setTile(name, value, sub = '', bad = false) {
  const el = document.querySelector(`[data-tile="${name}"]`);
  el.querySelector('.value').textContent = value;
  el.querySelector('.sub').textContent = sub;
  el.classList.toggle('bad', bad);
}

function renderOverview(o) {
  setTile('requests_per_s', rate(o.requests_per_s), `${num(o.requests)} completed in ${o.window}`);
  setTile('tokens_per_s', rate(o.tokens_per_s), `${num(o.completion_tokens)} tokens in ${o.window}`);
  setTile('in_flight', num(o.in_flight), `${num(o.live_workers)} live worker${o.live_workers === 1 ? '' : 's'}`);
  setTile('queue_depth', o.queues_available ? num(o.queue_depth) : '–', o.queues_available ? 'messages waiting' : 'management API unavailable');
  setTile('error_rate', pct(o.error_rate), `${num(o.errors)} failed`, o.error_rate > 0.05);
  setTile('latency', ms(o.latency_ms.p50), `p95 ${ms(o.latency_ms.p95)} · p99 ${ms(o.latency_ms.p99)}`);
}

function renderTimeseries(ts) {
  const p = ts.points ?? [];
  const xs = p.map((x) => x.t);
  const nullIfNone = (x, v) => (x.requests - x.errors - x.cancelled > 0 ? v : null);
  charts.throughput.set(xs, [p.map((x) => x.requests_per_s), p.map((x) => x.errors / ts.bucket_s)]);
  charts.tokens.set(xs, [p.map((x) => x.tokens_per_s)]);
  charts.latency.set(xs, [
    p.map((x) => nullIfNone(x, x.ttft_ms.p50)),
    p.map((x) => nullIfNone(x, x.ttft_ms.p95)),
    p.map((x) => nullIfNone(x, x.latency_ms.p50)),
    p.map((x) => nullIfNone(x, x.latency_ms.p95)),
    p.map((x) => nullIfNone(x, x.latency_ms.p99)),
  ]);
  charts.queue.set(xs, [p.map((x) => x.queue_depth)]);
}

function updateModelFilter(models) {
  const sel = $('filter-model');
  const have = new Set([...sel.options].map((o) => o.value));
  for (const m of models) {
    if (!have.has(m.model)) sel.add(new Option(m.model, m.model));
  }
}

function requestsQuery(cursor) {
  // The selected window (and a custom range's end) bounds the list like every other table.
  const p = new URLSearchParams(windowQuery(state));
  p.set('limit', '50');
  for (const [k, v] of Object.entries(state.filter)) if (v) p.set(k, v);
  if (cursor) p.set('cursor', cursor);
  return `/api/requests?${p}`;
}

async function loadRequests(append) {
  const r = await getJSON(requestsQuery(append ? state.nextCursor : null));
  if (!r.ok) {
    $('requests-note').textContent = errorText(r);
    return;
  }
  state.last.requests = append ? [...(state.last.requests ?? []), ...r.body.requests] : r.body.requests;
  if (!append) state.nextCursor = r.body.next_cursor;
  else state.nextCursor = r.body.next_cursor;
  renderRequests($('requests').querySelector('tbody'), r.body.requests, append);
  $('more').hidden = !state.nextCursor;
  $('requests-note').textContent = `${num(state.last.requests.length)} shown`;
}

async function refresh() {
  const w = windowQuery(state);  // window=5m, or a custom range's window=<s>s&to=<ms>
  const [overview, ts, models, workers, status, errors] = await Promise.all([
    getJSON(`/api/overview?${w}`),
    getJSON(`/api/timeseries?${w}`),
    getJSON(`/api/models?${w}`),
    getJSON(`/api/workers?${w}`),
    getJSON('/api/status'),
    loadErrors(w),
  ]);
  if (errors) state.last.errors = errors;
  const problems = [];
  if (overview.ok) { state.last.overview = overview.body; renderOverview(overview.body); } else problems.push(errorText(overview));
  if (ts.ok) { state.last.timeseries = ts.body; renderTimeseries(ts.body); }
  if (models.ok) {
    state.last.models = models.body;
    renderModels($('models').querySelector('tbody'), models.body);
    renderModelQueues($('model-queues').querySelector('tbody'), models.body);
    updateModelFilter(models.body.models);
  }
  if (workers.ok) { state.last.workers = workers.body; renderWorkers($('workers').querySelector('tbody'), workers.body); }
  if (status.ok) { state.last.status = status.body; problems.push(...renderStatus(status.body)); } else renderStatusUnreachable(errorText(status));
  const storage = await refreshStorage();
  if (storage) state.last.storage = storage;
  const keys = await refreshKeys(state, state.window);
  if (keys) keyOptions($('filter-key'), keys);
  if (!state.paged) await loadRequests(false);
  const banner = $('banner');
  banner.hidden = problems.length === 0;
  banner.textContent = [...new Set(problems)].join(' · ');
  state.refreshes += 1;
  $('updated').textContent = `updated ${clock(Date.now())}`;
}

let timer = null;
async function loop() {
  timer = null;
  if (!state.session) return;
  try { await refresh(); } catch (e) { console.error(e); }
  if (state.session && timer === null) timer = setTimeout(loop, refreshMs);
}

// ---- login, logout, and what a viewer may not use ----

function showLogin(message = '') {
  state.session = null;
  if (timer !== null) { clearTimeout(timer); timer = null; }
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('logout').hidden = true;
  $('whoami').textContent = '';
  $('login-key').focus();
}

function startSession(s) {
  state.session = s;
  $('login').hidden = true;
  $('login-error').textContent = '';
  $('logout').hidden = s.auth !== 'keys';
  $('whoami').textContent = s.auth === 'keys' ? `${s.name ?? ''} (${s.role})` : '';
  // Texts are for admins: a viewer gets no search box (the monitor would refuse it anyway).
  $('filter-q').hidden = !s.texts;
  if (!s.texts) state.filter.q = '';
  if (timer === null) loop();
}

onUnauthorized(() => { if (state.session) showLogin('Your session has ended: log in again.'); });

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('login-key');
  const key = input.value.trim();
  input.value = '';  // the key lives in no variable past this request
  const r = await postJSON('/api/login', { key }, { quiet401: true });
  if (!r.ok) { showLogin(errorText(r)); return; }
  startSession(r.body);
});
$('logout').addEventListener('click', async () => {
  await postJSON('/api/logout', {});
  showLogin('Logged out.');
});

async function start() {
  const s = await getJSON('/api/session', { quiet401: true });
  if (s.ok) startSession(s.body);
  else if (s.status === 401) showLogin();
  else { showLogin(errorText(s)); }
}

setupRange(state, refresh);
$('filter').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  state.filter = { model: f.get('model') ?? '', key: f.get('key') ?? '', status: f.get('status') ?? '', q: (f.get('q') ?? '').trim() };
  state.paged = false;
  loadRequests(false);
});
for (const id of ['filter-model', 'filter-key', 'filter-status']) {
  $(id).addEventListener('change', () => $('filter').requestSubmit());
}
$('more').addEventListener('click', () => { state.paged = true; loadRequests(true); });
$('requests').querySelector('tbody').addEventListener('click', (e) => {
  const tr = e.target.closest('tr[data-request]');
  if (tr) openDetail(tr.dataset.request);
});
setupDetail();
start();
