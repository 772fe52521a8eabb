// The header's health: a dot per source (database, heartbeats, queue statistics) and per
// judgement of the monitor (audit ingest keeping up, dead-letter queue empty; /api/status
// `audit_ingest`, `dead_letters`), and one line saying why when one of the judgements is red.
const $ = (id) => document.getElementById(id);

function setHealth(name, up, title) {
  const el = document.querySelector(`[data-health="${name}"]`);
  if (!el) return;
  el.classList.toggle('up', up === true);
  el.classList.toggle('down', up === false);
  if (title !== undefined) el.title = title;
}

function showReason(reasons) {
  const el = $('health-reason');
  el.textContent = reasons.join(' · ');
  el.title = el.textContent;
  el.hidden = reasons.length === 0;
}

/// Updates the dots from a /api/status answer; returns the problems for the page's banner.
export function renderStatus(s) {
  const problems = [];
  setHealth('database', s.database.available);
  setHealth('heartbeats', s.heartbeats.connected);
  setHealth('rabbitmq', s.rabbitmq_management.available);
  if (!s.rabbitmq_management.available) problems.push(`Queue statistics unavailable: ${s.rabbitmq_management.error}`);
  // Unknown (no queue statistics yet): grey, not green.
  const reasons = [];
  const ingest = s.audit_ingest ?? {};
  setHealth('ingest', ingest.known ? ingest.ok : null,
    ingest.known ? (ingest.ok ? `audit ingest keeps up (${ingest.backlog} waiting)` : ingest.reason) : 'audit ingest: no queue statistics');
  if (ingest.known && !ingest.ok) reasons.push(ingest.reason);
  const dead = s.dead_letters ?? {};
  setHealth('dead_letters', dead.known ? dead.ok : null,
    dead.known ? (dead.ok ? 'the dead-letter queue is empty' : dead.reason) : 'dead letters: no queue statistics');
  if (dead.known && !dead.ok) reasons.push(dead.reason);
  showReason(reasons);
  return problems;
}

/// /api/status itself failed: every dot is red.
export function renderStatusUnreachable(message) {
  for (const n of ['database', 'heartbeats', 'rabbitmq', 'ingest', 'dead_letters']) setHealth(n, false);
  showReason([message]);
}
