// The Keys section: usage per API key in the dashboard's window (table, from /api/usage/keys) and
// per UTC day over the last 30 days (tokens per key, from /api/usage/daily), with the CSV export
// link (/api/usage/daily.csv). Requests without a key (--auth none) show as "no key". The rest of
// the dashboard calls refreshKeys() each refresh and keyOptions() for the request filter.
import { getJSON, errorText } from './api.js';
import { time_chart } from './charts.js';
import { esc, num, pct } from './format.js';

const dayMs = 86400000;
let chart = null;
let chartKeys = '';

export function keyLabel(name, id) {
  return name ?? (id ? id.slice(0, 8) : 'no key');
}

function renderTable(tbody, keys) {
  if (keys.length === 0) {
    tbody.innerHTML = '<tr><td class="empty" colspan="7">No requests in this window.</td></tr>';
    return;
  }
  tbody.innerHTML = keys.map((k) => `
    <tr data-key="${esc(k.key_id ?? '')}">
      <td>${k.key_id ? esc(keyLabel(k.key_name, k.key_id)) : '<span class="note">no key</span>'}${k.revoked ? ' <span class="badge error">revoked</span>' : ''}</td>
      <td class="num" data-col="received">${num(k.received)}</td>
      <td class="num" data-col="requests">${num(k.requests)}</td>
      <td class="num" data-col="errors">${num(k.errors)}${k.requests ? ` <small>(${pct(k.error_rate)})</small>` : ''}</td>
      <td class="num" data-col="prompt_tokens">${num(k.prompt_tokens)}</td>
      <td class="num" data-col="completion_tokens">${num(k.completion_tokens)}</td>
      <td class="num" data-col="total_tokens">${num(k.total_tokens)}</td>
    </tr>`).join('');
}

/// Total tokens per key per day: one series per key, every day of the range present.
function renderDaily(el, daily) {
  const days = [];
  for (let t = Math.floor(daily.from_ms / dayMs) * dayMs; t < daily.to_ms; t += dayMs) days.push(t);
  const byKey = new Map();
  for (const d of daily.days ?? []) {
    const id = d.key_id ?? '';
    if (!byKey.has(id)) byKey.set(id, { label: keyLabel(d.key_name, d.key_id), tokens: new Map() });
    byKey.get(id).tokens.set(Date.parse(`${d.day}T00:00:00Z`), d.total_tokens);
  }
  const keys = [...byKey.values()].sort((a, b) => a.label.localeCompare(b.label));
  const signature = keys.map((k) => k.label).join('\u0000');
  if (!chart || signature !== chartKeys) {
    // The set of keys changed: a chart with one series per key.
    chart?.destroy();
    el.innerHTML = '';
    chart = new time_chart(el, keys.map((k) => ({ label: k.label, points: true })), ' tok');
    chartKeys = signature;
  }
  chart.set(days, keys.map((k) => days.map((t) => k.tokens.get(t) ?? 0)));
}

/// Reads and draws the section; returns the window's usage rows (or null on failure).
export async function refreshKeys(state, windowText) {
  const [usage, daily] = await Promise.all([
    getJSON(`/api/usage/keys?window=${encodeURIComponent(windowText)}`),
    getJSON('/api/usage/daily'),
  ]);
  const note = document.getElementById('keys-note');
  note.textContent = usage.ok ? '' : errorText(usage);
  if (usage.ok) {
    state.last.keys = usage.body;
    renderTable(document.getElementById('keys').querySelector('tbody'), usage.body.keys ?? []);
  }
  if (daily.ok) {
    state.last.daily = daily.body;
    renderDaily(document.getElementById('chart-keys'), daily.body);
    state.charts.keys = chart;
  }
  return usage.ok ? usage.body.keys : null;
}

/// Adds the keys seen to the request filter's select (value: key id, label: name).
export function keyOptions(select, keys) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const k of keys ?? []) {
    if (k.key_id && !have.has(k.key_id)) select.add(new Option(keyLabel(k.key_name, k.key_id), k.key_id));
  }
}
