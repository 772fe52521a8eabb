// Number and time formatting for tiles and tables.

export function num(v, digits = 0) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return Number(v).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/// Rates: more digits when small, so 0.07 req/s does not read as 0.
export function rate(v) {
  if (v === null || v === undefined) return '–';
  if (v === 0) return '0';
  if (v < 1) return num(v, 3);
  if (v < 100) return num(v, 1);
  return num(v, 0);
}

export function ms(v) {
  if (v === null || v === undefined) return '–';
  if (v >= 10000) return `${num(v / 1000, 1)} s`;
  if (v >= 100) return `${num(v, 0)} ms`;
  return `${num(v, 1)} ms`;
}

export function pct(v) {
  if (v === null || v === undefined) return '–';
  return `${num(v * 100, v > 0 && v < 0.1 ? 2 : 1)}%`;
}

export function clock(msSinceEpoch) {
  if (!msSinceEpoch) return '–';
  const d = new Date(msSinceEpoch);
  return d.toLocaleTimeString('en-GB', { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function dateTime(msSinceEpoch) {
  if (!msSinceEpoch) return '–';
  const d = new Date(msSinceEpoch);
  return `${d.toISOString().slice(0, 10)} ${clock(msSinceEpoch)}`;
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 1) return 'just now';
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/// Safe text for innerHTML templates.
export function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
