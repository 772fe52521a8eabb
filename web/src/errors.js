// "Errors by route and code": the window's failed and cancelled requests from /api/errors,
// one row per (route, status, error code), with the share of that route's requests.
import { getJSON } from './api.js';
import { clock, esc, num, pct } from './format.js';

export function renderErrors(tbody, body) {
  const routes = new Map((body.routes ?? []).map((r) => [r.route, r]));
  const rows = (body.errors ?? []).map((e) => {
    const total = routes.get(e.route)?.requests ?? 0;
    return `
    <tr data-route="${esc(e.route)}" data-code="${esc(e.code ?? '')}" data-status="${esc(e.status)}">
      <td class="mono">${esc(e.route)}</td>
      <td><span class="badge ${esc(e.status)}">${esc(e.status)}</span></td>
      <td class="mono">${esc(e.code ?? '–')}</td>
      <td class="num" data-col="count">${num(e.count)}</td>
      <td class="num">${total ? pct(e.count / total) : '–'} <small>of ${num(total)}</small></td>
      <td class="num">${clock(e.last_ms)}</td>
    </tr>`;
  });
  tbody.innerHTML = rows.length ? rows.join('') : '<tr><td class="empty" colspan="6">No errors in this window.</td></tr>';
}

/// Loads and renders; returns the answer (or null when it failed).
/// `range`: the range's query string (range.js windowQuery).
export async function loadErrors(range) {
  const r = await getJSON(`/api/errors?${range}`);
  if (!r.ok) return null;
  renderErrors(document.querySelector('#errors tbody'), r.body);
  return r.body;
}
