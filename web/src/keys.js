// The Keys section: usage per API key in the dashboard's window (table, from /api/usage/keys) and
// per UTC day over the last 30 days (tokens per key, from /api/usage/daily), with the CSV export
// link (/api/usage/daily.csv). Requests without a key (--auth none) show as "no key". Below,
// every key's limits and what is left of its daily and monthly token budget
// (/api/usage/budgets), with a Revoke button for admins (confirm, then DELETE /api/keys/{name};
// viewers see the numbers only). The rest of the dashboard calls refreshKeys() each refresh and
// keyOptions() for the request filter.
import { getJSON, deleteJSON, errorText } from './api.js';
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

/// "used / budget" with what is left and a meter; just "used" without a budget.
function budgetCell(col, used, budget, left) {
  if (budget === null || budget === undefined) {
    return `<td class="num" data-col="${col}" data-used="${used}">${num(used)}<span class="left">no budget</span></td>`;
  }
  const share = budget > 0 ? Math.min(1, used / budget) : 1;
  const spent = left === 0 ? ' spent' : '';
  return `<td class="num" data-col="${col}" data-used="${used}" data-budget="${budget}" data-left="${left}">`
    + `${num(used)} / ${num(budget)}<span class="left${spent}">${num(left)} left</span>`
    + `<span class="meter"><i class="${spent.trim()}" style="width:${(share * 100).toFixed(1)}%"></i></span></td>`;
}

function limitCell(col, v) {
  return `<td class="num" data-col="${col}">${v === null || v === undefined ? '<span class="note">–</span>' : num(v)}</td>`;
}

function renderLimits(tbody, keys, admin) {
  if (keys.length === 0) {
    tbody.innerHTML = '<tr><td class="empty" colspan="10">No keys yet (llmproxy keys create, or POST /api/keys).</td></tr>';
    return;
  }
  const now = Date.now();
  tbody.innerHTML = keys.map((k) => {
    const revoked = k.revoked_at !== null;
    const expired = !revoked && k.expires_at !== null && Date.parse(k.expires_at) <= now;
    const badge = revoked ? ' <span class="badge error">revoked</span>' : expired ? ' <span class="badge stale">expired</span>' : '';
    const action = admin && !revoked
      ? `<button type="button" class="revoke" data-name="${esc(k.key_name)}">Revoke</button>` : '';
    return `
    <tr data-key="${esc(k.key_id)}" data-name="${esc(k.key_name)}"${revoked ? ' data-revoked' : ''}>
      <td>${esc(k.key_name)}${badge}${k.owner ? `<br><small class="note">${esc(k.owner)}</small>` : ''}</td>
      <td>${esc(k.role)}</td>
      ${limitCell('rpm', k.rpm)}${limitCell('tpm', k.tpm)}${limitCell('max_streams', k.max_streams)}${limitCell('priority_ceiling', k.priority_ceiling)}
      ${budgetCell('today', k.used_today, k.daily_tokens, k.remaining_today)}
      ${budgetCell('month', k.used_month, k.monthly_tokens, k.remaining_month)}
      <td data-col="expires">${k.expires_at ? esc(k.expires_at.slice(0, 10)) : '<span class="note">never</span>'}</td>
      <td data-col="action">${action}</td>
    </tr>`;
  }).join('');
}

let revokeWired = false;
/// One click handler on the table: Revoke asks, revokes, and redraws the rows.
function wireRevoke(state) {
  if (revokeWired) return;
  revokeWired = true;
  document.getElementById('key-limits').addEventListener('click', async (e) => {
    const button = e.target.closest('button.revoke');
    if (!button) return;
    const name = button.dataset.name;
    if (!window.confirm(`Revoke the key "${name}"? Every API server refuses it within 2 s; this cannot be undone.`)) return;
    button.disabled = true;
    const r = await deleteJSON(`/api/keys/${encodeURIComponent(name)}`);
    document.getElementById('keys-note').textContent = r.ok ? `Revoked ${name}.` : `Could not revoke ${name}: ${errorText(r)}`;
    if (!r.ok) button.disabled = false;
    await refreshLimits(state);
  });
}

async function refreshLimits(state) {
  const budgets = await getJSON('/api/usage/budgets');
  if (budgets.ok) {
    state.last.budgets = budgets.body;
    renderLimits(document.getElementById('key-limits').querySelector('tbody'), budgets.body.keys ?? [],
      state.session?.role === 'admin');
  }
  return budgets;
}

/// Reads and draws the section; returns the window's usage rows (or null on failure).
export async function refreshKeys(state, windowText) {
  wireRevoke(state);
  const [usage, daily] = await Promise.all([
    getJSON(`/api/usage/keys?window=${encodeURIComponent(windowText)}`),
    getJSON('/api/usage/daily'),
    refreshLimits(state),
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
