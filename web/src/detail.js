// The request detail drawer: full prompt or messages, the response text, metrics and (when
// chunk audit is on) when each chunk arrived.
import { getJSON, errorText } from './api.js';
import { dateTime, esc, ms, num, rate } from './format.js';

const drawer = () => document.getElementById('detail');

function kv(pairs) {
  return `<div class="kv">${pairs.map(([k, v]) => `<div>${esc(k)}</div><div>${v}</div>`).join('')}</div>`;
}

function messagesHTML(q) {
  if (Array.isArray(q.messages)) {
    return q.messages.map((m) => `<div class="msg"><div class="role">${esc(m.role)}</div><div class="textblock">${esc(typeof m.content === 'string' ? m.content : JSON.stringify(m.content))}</div></div>`).join('');
  }
  return `<div class="textblock" data-field="prompt">${esc(q.prompt ?? '')}</div>`;
}

// What the client said about itself (OpenAI's `user` and `metadata`, kept in the request's
// extra fields): admins only, like the other texts of a request.
function endUserRows(extra) {
  const rows = [];
  if (typeof extra?.user === 'string') rows.push(['End user', `<span class="mono" data-field="user">${esc(extra.user)}</span>`]);
  if (extra?.metadata && typeof extra.metadata === 'object') {
    rows.push(['Metadata', `<span class="mono" data-field="metadata">${esc(JSON.stringify(extra.metadata))}</span>`]);
  }
  return rows;
}

function chunksHTML(chunks) {
  if (!chunks.length) return '<p class="note">No chunk timings (chunk audit is off, or the request was not streamed).</p>';
  const rows = chunks.slice(0, 200).map((c) => `<tr><td class="num">${c.attempt}</td><td class="num">${num(c.seq)}</td><td class="num">${ms(c.t_ms)}</td><td class="num">${num(c.chars)}</td></tr>`);
  const more = chunks.length > 200 ? `<p class="note">…and ${chunks.length - 200} more</p>` : '';
  return `<table class="grid"><thead><tr><th class="num">Attempt</th><th class="num">Seq (tokens)</th><th class="num">At the audit after</th><th class="num">Chars</th></tr></thead><tbody>${rows.join('')}</tbody></table>${more}`;
}

export async function openDetail(id) {
  const body = document.getElementById('detail-body');
  document.getElementById('detail-title').textContent = `Request ${id}`;
  body.innerHTML = '<p>Loading…</p>';
  drawer().hidden = false;
  const r = await getJSON(`/api/requests/${encodeURIComponent(id)}`);
  if (!r.ok) {
    body.innerHTML = `<p class="banner">${esc(errorText(r))}</p>`;
    return;
  }
  const d = r.body;
  const hidden = d.texts_hidden === true;  // a viewer: numbers only
  const q = d.request ?? {};
  const s = d.response;
  let html = '<h3>Request</h3>' + kv([
    ['Received', dateTime(q.received_at_ms)],
    ['Model', `<span class="mono">${esc(q.model)}</span>`],
    ['Route', `<span class="mono">${esc(q.route)} (${esc(q.kind)}, ${q.stream ? 'stream' : 'no stream'})</span>`],
    ['API key', q.key_id ? `${esc(q.key_name ?? '')} <span class="mono">${esc(q.key_id)}</span>` : 'none'],
    ['API server', `<span class="mono">${esc(q.server_id)}</span>`],
    ['Client', `${esc(q.client_addr ?? '')} ${esc(q.user_agent ?? '')}`],
    ...(hidden ? [] : [['Options', `<span class="mono">${esc(JSON.stringify(q.options ?? {}))}</span>`]]),
    ...(hidden ? [] : endUserRows(q.extra)),
  ]);
  html += hidden
    ? '<h3>Prompt</h3><p class="hidden-text" data-field="texts-hidden">Prompts and answers are shown to admins only.</p>'
    : `<h3>${Array.isArray(q.messages) ? 'Messages' : 'Prompt'}</h3>${messagesHTML(q)}`;
  if (s) {
    html += '<h3>Response</h3>' + kv([
      ['Status', `<span class="badge ${esc(s.status)}">${esc(s.status)}</span> ${esc(s.done_reason ?? '')}`],
      ['Worker', `<span class="mono">${esc(s.worker_id ?? '')}</span> ${esc(s.provider ?? '')}`],
      ['Tokens', `${num(s.prompt_tokens)} prompt, ${num(s.completion_tokens)} completion`],
      ['TTFT', ms(s.ttft_ms)],
      ['Duration', ms(s.duration_ms)],
      ['Tokens/s', rate(s.tokens_per_s)],
      ['Completed', dateTime(s.completed_at_ms)],
      ...(s.error_code ? [['Error', `<span class="mono">${esc(s.error_code)}</span>: ${esc(s.error_message ?? '')}`]] : []),
      ...(s.reported_by && s.reported_by !== 'worker'
        ? [['Outcome', 'as the API server ended the stream for its client' +
            (s.reported_by === 'both' ? '; text and counts from the worker' : '; no worker report')]]
        : []),
    ]);
    if (!hidden) html += `<h3>Response text</h3><div class="textblock" data-field="response-text">${esc(s.text)}</div>`;
  } else {
    html += '<h3>Response</h3><p>No response stored yet (pending).</p>';
  }
  html += `<h3>Chunk timings <small>(arrival at the audit service, from the request's arrival at the API)</small></h3>${chunksHTML(d.chunks ?? [])}`;
  body.innerHTML = html;
}

export function setupDetail() {
  document.getElementById('detail-close').addEventListener('click', () => { drawer().hidden = true; });
  drawer().addEventListener('click', (e) => { if (e.target === drawer()) drawer().hidden = true; });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') drawer().hidden = true; });
}
