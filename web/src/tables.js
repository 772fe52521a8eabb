// The model, worker and request tables: rebuilt from each answer (they are small).
import { ago, clock, esc, ms, num, pct, rate } from './format.js';

function fill(tbody, rows, columns, emptyText) {
  if (rows.length === 0) {
    tbody.innerHTML = `<tr><td class="empty" colspan="${columns}">${esc(emptyText)}</td></tr>`;
    return;
  }
  tbody.innerHTML = rows.join('');
}

export function renderModels(tbody, body) {
  // Models with no stored requests in the window (only a worker or a queue) are the model queues' rows.
  const rows = (body.models ?? []).filter((m) => m.requests > 0).map((m) => `
    <tr data-model="${esc(m.model)}">
      <td class="mono">${esc(m.model)}</td>
      <td class="num" data-col="requests">${num(m.requests)}</td>
      <td class="num" data-col="errors">${num(m.errors)}${m.requests ? ` <small>(${pct(m.error_rate)})</small>` : ''}</td>
      <td class="num" data-col="tokens">${num(m.completion_tokens)}</td>
      <td class="num">${rate(m.mean_generation_tokens_per_s)}</td>
      <td class="num">${ms(m.ttft_ms.p50)} / ${ms(m.ttft_ms.p95)}</td>
      <td class="num">${ms(m.latency_ms.p50)} / ${ms(m.latency_ms.p95)} / ${ms(m.latency_ms.p99)}</td>
    </tr>`);
  fill(tbody, rows, 7, 'No requests in this window.');
}

/// The model queues: each model a worker serves or a work queue exists for (live), with the
/// window's queue waits and throughput (/api/models). "Queued" waits for a worker; "Running"
/// was delivered to one. – = unknown (no queue statistics, or no waits stored over rollups).
export function renderModelQueues(tbody, body) {
  const q = (m, key) => (m.queue ? num(m.queue[key]) : '–');
  const rows = (body.models ?? []).map((m) => `
    <tr data-model="${esc(m.model)}">
      <td class="mono">${esc(m.model)}</td>
      <td class="num" data-col="workers">${num(m.workers ?? 0)}</td>
      <td class="num" data-col="free_slots">${num(m.free_slots ?? 0)}</td>
      <td class="num" data-col="queued">${q(m, 'ready')}</td>
      <td class="num" data-col="running">${q(m, 'unacked')}</td>
      <td class="num" data-col="consumers">${q(m, 'consumers')}</td>
      <td class="num" data-col="wait">${ms(m.wait_ms?.p50)} / ${ms(m.wait_ms?.p95)}</td>
      <td class="num" data-col="requests_per_s">${rate(m.requests_per_s)}</td>
      <td class="num" data-col="tokens_per_s">${rate(m.tokens_per_s)}</td>
    </tr>`);
  fill(tbody, rows, 9, 'No models: no worker has announced one and no model queue exists.');
}

export function renderWorkers(tbody, body) {
  const rows = (body.workers ?? []).map((w) => `
    <tr data-worker="${esc(w.worker_id)}">
      <td class="mono">${esc(w.worker_id)}<br><small>${esc(w.host ?? '')} ${esc(w.provider ?? '')}</small></td>
      <td><span class="badge ${esc(w.state)}">${esc(w.state)}</span></td>
      <td class="mono">${esc((w.models ?? []).join(', '))}</td>
      <td class="num" data-col="in_flight">${num(w.in_flight)}${w.concurrency ? ` / ${num(w.concurrency)}` : ''}</td>
      <td class="num" data-col="window_requests">${num(w.window?.requests ?? 0)}</td>
      <td class="num">${rate(w.tokens_per_s ?? w.window?.mean_tokens_per_s ?? 0)}</td>
      <td class="num" data-col="requests_total">${num(w.requests_total ?? 0)}</td>
      <td class="num">${w.live ? ago(w.seen_ago_s) : clock(w.last_seen_ms)}</td>
    </tr>`);
  fill(tbody, rows, 8, 'No workers seen.');
}

export function requestRows(list) {
  return list.map((r) => `
    <tr data-request="${esc(r.request_id)}" title="${esc(r.request_id)}">
      <td class="mono">${clock(r.received_at_ms)}</td>
      <td class="mono">${esc(r.model)}</td>
      <td data-col="key">${r.key_id ? esc(r.key_name ?? r.key_id.slice(0, 8)) : ''}</td>
      <td><span class="badge ${esc(r.status)}">${esc(r.status)}</span>${r.error_code ? ` <small class="mono">${esc(r.error_code)}</small>` : ''}</td>
      <td class="preview">${'preview' in r ? esc(r.preview) : '<span class="hidden-text">admins only</span>'}</td>
      <td class="mono">${esc(r.worker_id ?? '')}</td>
      <td class="num">${r.completion_tokens === null ? '–' : num(r.completion_tokens)}</td>
      <td class="num">${ms(r.ttft_ms)}</td>
      <td class="num">${ms(r.duration_ms)}</td>
    </tr>`);
}

export function renderRequests(tbody, list, append) {
  const rows = requestRows(list);
  if (append) {
    tbody.insertAdjacentHTML('beforeend', rows.join(''));
    return;
  }
  fill(tbody, rows, 9, 'No requests match.');
}
