// The time range: a preset window ending now (5 minutes, 1 hour, 24 hours) or a custom
// from/to. The monitor takes a range as `window=<seconds>s&to=<unix ms>` on every aggregate
// endpoint (overview, timeseries, models, workers, errors).
const $ = (id) => document.getElementById(id);
const minS = 10;
const maxS = 7 * 24 * 3600;

/// "2026-12-05T22:10" in local time, as datetime-local inputs want it.
function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

/// The query string of the current range (state.window, state.to).
export function windowQuery(state) {
  const p = new URLSearchParams({ window: state.window });
  if (state.to) p.set('to', String(state.to));
  return p.toString();
}

/// Wires the window selector and the custom-range form; `changed()` reloads the page's data.
export function setupRange(state, changed) {
  const sel = $('window');
  const form = $('range');
  sel.addEventListener('change', () => {
    if (sel.value === 'custom') {
      if (!$('range-from').value) {
        const now = Date.now();
        $('range-from').value = localInput(now - 3600 * 1000);
        $('range-to').value = localInput(now);
      }
      form.hidden = false;
      return;
    }
    form.hidden = true;
    state.window = sel.value;
    state.to = null;
    changed();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const from = Date.parse($('range-from').value);
    const to = Date.parse($('range-to').value);
    const seconds = Math.round((to - from) / 1000);
    if (!Number.isFinite(seconds) || seconds < minS || seconds > maxS) {
      $('range-error').textContent = 'from must be 10 s to 7 days before to';
      return;
    }
    $('range-error').textContent = '';
    state.window = `${seconds}s`;
    state.to = to;
    changed();
  });
}
