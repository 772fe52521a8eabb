// The header's storage line: the audit database's size and how long the audit service keeps
// its history (/api/storage; the monitor caches it a minute, so every refresh may ask).
import { getJSON } from './api.js';
import { dateTime } from './format.js';

function bytes(n) {
  if (n == null) return '?';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

function kept(days) {
  return days > 0 ? `${days} d` : 'forever';
}

/// Fills #storage; returns the answer (or null when /api/storage failed).
export async function refreshStorage() {
  const el = document.getElementById('storage');
  const r = await getJSON('/api/storage');
  if (!r.ok || !el) return null;
  const s = r.body;
  const ret = s.retention;
  el.textContent = `DB ${bytes(s.database_bytes)} · requests kept ${kept(ret?.request_days ?? 0)}`;
  const tables = Object.entries(s.tables ?? {}).map(([t, b]) => `${t} ${bytes(b)}`).join(', ');
  const rollups = ret ? `minute rollups kept ${kept(ret.rollup_days)}, hourly forever` : 'no retention has run: everything is kept';
  const last = ret?.last_run_at_ms ? `; last pass ${dateTime(ret.last_run_at_ms)} deleted ${ret.last_deleted} rows` : '';
  el.title = `${tables}; ${rollups}${last}`;
  return s;
}
