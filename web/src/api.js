// The monitor's JSON API. Every call resolves to {ok, status, body}; errors carry the
// server's {"error": {"code", "message"}} so the page can say what is wrong.

// Authentication is the monitor's HttpOnly session cookie, sent by the browser with every
// same-origin request: no credential is ever held in a script or in storage. A 401 from any call
// calls the handler set by onUnauthorized (the page shows its login form).

let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

export async function getJSON(path, init = {}) {
  try {
    const res = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin', ...init });
    const text = await res.text();
    let body = null;
    try { body = JSON.parse(text); } catch { body = { error: { code: 'bad_response', message: text.slice(0, 200) } }; }
    if (res.status === 401 && !init.quiet401) unauthorized();
    return { ok: res.ok, status: res.status, body };
  } catch (e) {
    return { ok: false, status: 0, body: { error: { code: 'unreachable', message: `the monitor is unreachable (${e.message})` } } };
  }
}

export function errorText(r) {
  return r.body?.error?.message ?? `HTTP ${r.status}`;
}

export function postJSON(path, body, opts = {}) {
  return getJSON(path, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body ?? {}),
    ...opts,
  });
}

export function deleteJSON(path) {
  return getJSON(path, { method: 'DELETE' });
}
