// The monitor's JSON API. Every call resolves to {ok, status, body}; errors carry the
// server's {"error": {"code", "message"}} so the page can say what is wrong.

export async function getJSON(path) {
  try {
    const res = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { body = { error: { code: 'bad_response', message: text.slice(0, 200) } }; }
    return { ok: res.ok, status: res.status, body };
  } catch (e) {
    return { ok: false, status: 0, body: { error: { code: 'unreachable', message: `the monitor is unreachable (${e.message})` } } };
  }
}

export function errorText(r) {
  return r.body?.error?.message ?? `HTTP ${r.status}`;
}
