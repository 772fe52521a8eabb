// Browser test of the dashboard: Debian's Chromium (headless) driven by playwright-core against
// a running `llmproxy monitor` that has seen a known traffic mix. Run by
// tests/integration/monitor_e2e_test.cpp, which generates the traffic and passes:
//   MONITOR_URL   http://127.0.0.1:<port>
//   EXPECT_JSON   {"requests", "errors", "tokens", "models": {name: requests}, "workers",
//                  "detail_request_id", "detail_prompt", "detail_text", "search"}
//   OUTPUT_DIR    where the screenshots go
//   MONITOR_ADMIN_KEY   an admin key (the monitor runs --auth keys): the page must ask for it,
//                       keep it only in its HttpOnly session cookie, and show everything
//   MONITOR_VIEWER_KEY  optional: a viewer key; after logout the viewer sees numbers, no texts
//                       (and the keys' limits without Revoke buttons)
// Exit code 0 = every check passed; otherwise the first failure is printed.
import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.MONITOR_URL;
const expect = JSON.parse(process.env.EXPECT_JSON ?? '{}');
const outDir = process.env.OUTPUT_DIR ?? '.';
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const adminKey = process.env.MONITOR_ADMIN_KEY ?? '';
const viewerKey = process.env.MONITOR_VIEWER_KEY ?? '';
if (!url) {
  console.error('MONITOR_URL is not set');
  process.exit(2);
}

const timeout = 20000;
let page = null;
/// Two animation frames: the resize's layout and the ResizeObserver-driven chart sizes are done.
const settle = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

const profile = await mkdtemp(join(tmpdir(), 'llmp-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1920, height: 1080 },
});
const problems = [];
let code = 0;
try {
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // While logged out, the browser logs the monitor's 401s (the session probe, a wrong key) as
  // console errors: expected then, a problem at any other time.
  let loggedOut = true;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (loggedOut && /status of 401/.test(m.text())) return;
    problems.push(`console error: ${m.text()}`);
  });
  // Nothing but the monitor: the page must work with no network.
  const origin = new URL(url).origin;
  await page.route('**/*', (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort()));
  const outside = [];
  page.on('requestfailed', (r) => { if (!r.url().startsWith(origin)) outside.push(r.url()); });

  await page.goto(url, { waitUntil: 'load' });
  const login = async (key) => {
    await page.locator('#login').waitFor({ state: 'visible', timeout });
    await page.fill('#login-key', key);
    await page.click('#login-form button[type=submit]');
    await page.locator('#login').waitFor({ state: 'hidden', timeout });
    loggedOut = false;
  };
  if (adminKey) {
    // The form appears once the session probe has come back 401: wait for it, do not race it.
    await page.locator('#login').waitFor({ state: 'visible', timeout });
    check(await page.locator('#login').isVisible(), 'the page asks for a key');
    check(await page.evaluate(() => window.__dashboard.refreshes) === 0, 'nothing is shown before the login');
    await page.fill('#login-key', 'llmp_not-a-key');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0, null, { timeout });
    check(await page.locator('#login').isVisible(), 'a wrong key is refused');
    await login(adminKey);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'llmp_session');
    check(session && session.httpOnly && session.sameSite === 'Strict' && session.path === '/',
      'the login set an HttpOnly, SameSite=Strict session cookie');
    check(!session.value.includes(adminKey), 'the cookie is not the key');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    check(!stored.includes(adminKey) && !stored.includes('llmp_session'), 'no credential in storage or in document.cookie');
    check(await page.locator('#login-key').inputValue() === '', 'the key field is emptied');
  }
  await page.waitForFunction((n) => window.__dashboard?.last?.overview?.requests === n && window.__dashboard.refreshes >= 1,
    expect.requests, { timeout });

  // Tiles.
  const tile = async (name, part = '.value') => (await page.locator(`[data-tile="${name}"] ${part}`).textContent()).trim();
  check((await tile('requests_per_s', '.sub')).startsWith(`${expect.requests} completed`), `requests tile counts ${expect.requests}`);
  check((await tile('tokens_per_s', '.sub')).startsWith(`${expect.tokens.toLocaleString('en-US')} tokens`), `tokens tile counts ${expect.tokens}`);
  const errPct = `${(expect.errors / expect.requests * 100).toFixed(1)}%`;
  check(await tile('error_rate') === errPct, `error rate tile shows ${errPct} (got ${await tile('error_rate')})`);
  check((await tile('error_rate', '.sub')) === `${expect.errors} failed`, `${expect.errors} failed`);
  await page.waitForFunction(() => document.querySelector('[data-tile="in_flight"] .value').textContent === '0', null, { timeout });
  check(true, 'in-flight tile shows 0 after the traffic');
  check(/^\d+$|^–$/.test(await tile('queue_depth')), 'queue depth tile shows a number (or – without the management API)');
  check(/ms$/.test(await tile('latency')) && /p95 .* p99 /.test(await tile('latency', '.sub')), 'latency tile shows p50 and p95/p99 in milliseconds');

  // Model and worker tables.
  for (const [model, n] of Object.entries(expect.models)) {
    const cell = page.locator(`#models tr[data-model="${model}"] td[data-col="requests"], #models tr[data-model="${model}:latest"] td[data-col="requests"]`);
    await cell.waitFor({ timeout });
    check((await cell.textContent()).trim() === String(n), `model ${model}: ${n} requests`);
  }
  // Model queues: each model with its live workers, its work queue (empty after the traffic),
  // the window's queue waits and throughput.
  const queuesKnown = await page.evaluate(() => window.__dashboard.last.models?.queues_available === true);
  for (const model of Object.keys(expect.models)) {
    const row = `#model-queues tr[data-model="${model}:latest"]`;
    await page.waitForFunction((sel) => document.querySelector(`${sel} td[data-col="workers"]`) !== null, row, { timeout });
    const cell = async (col) => (await page.locator(`${row} td[data-col="${col}"]`).textContent()).trim();
    check(await cell('workers') === String(expect.workers), `model queue ${model}: ${expect.workers} workers (got ${await cell('workers')})`);
    check(/^\d+$/.test(await cell('free_slots')), `model queue ${model}: free slots shown`);
    if (queuesKnown) {
      // The queue figures are a periodic sample of the broker: one taken while a worker was still
      // subscribing shows fewer consumers, so wait for a sample of the settled fleet.
      const settled = await page.waitForFunction(([sel, n]) => {
        const col = (c) => document.querySelector(`${sel} td[data-col="${c}"]`).textContent.trim();
        return col('queued') === '0' && col('consumers') === String(n);
      }, [row, expect.workers], { timeout }).then(() => true, () => false);
      check(settled, `model queue ${model}: 0 queued, ${expect.workers} consumers (got ${await cell('queued')} queued, ${await cell('consumers')} consumers)`);
    }
    check(/^[\d.,]+ m?s \/ [\d.,]+ m?s$/.test(await cell('wait')), `model queue ${model}: wait p50 / p95 (${await cell('wait')})`);
    check(/^[\d.,]+$/.test(await cell('requests_per_s')) && await cell('requests_per_s') !== '0', `model queue ${model}: requests/s (${await cell('requests_per_s')})`);
    check(/^[\d.,]+$/.test(await cell('tokens_per_s')), `model queue ${model}: tokens/s (${await cell('tokens_per_s')})`);
  }
  await page.waitForFunction((n) => document.querySelectorAll('#workers tbody tr[data-worker]').length === n, expect.workers, { timeout });
  const states = await page.locator('#workers tbody .badge').allTextContents();
  check(states.length === expect.workers && states.every((s) => s === 'live'), `${expect.workers} live workers`);

  // Charts: uPlot has data and the canvases have pixels on them.
  const charts = await page.evaluate(() => Object.fromEntries(Object.entries(window.__dashboard.charts).map(([name, c]) => [name, {
    points: c.plot.data[0].length,
    nonZero: c.plot.data.slice(1).some((s) => s.some((v) => v !== null && v > 0)),
    inked: (() => {
      const cv = c.plot.ctx.canvas;
      const px = c.plot.ctx.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n += 1;
      return n;
    })(),
  }])));
  for (const name of ['throughput', 'tokens', 'latency']) {
    check(charts[name].points >= 30, `${name} chart has ${charts[name].points} buckets`);
    check(charts[name].nonZero, `${name} chart has traffic in it`);
    check(charts[name].inked > 500, `${name} chart is drawn (${charts[name].inked} pixels)`);
  }
  check(charts.queue.points >= 30 && charts.queue.inked > 0, 'queue chart is drawn');

  // Recent requests, then the filter and the detail view.
  await page.waitForFunction((n) => document.querySelectorAll('#requests tbody tr[data-request]').length === n, expect.requests, { timeout });
  check(true, `${expect.requests} recent requests listed`);
  await page.screenshot({ path: join(outDir, 'dashboard.png'), fullPage: true });
  await page.setViewportSize({ width: 1366, height: 768 });
  await settle();
  await page.screenshot({ path: join(outDir, 'dashboard-1366.png'), fullPage: true });

  // The keys' limits and budgets (the keys made for this test): an admin gets Revoke buttons.
  await page.waitForFunction(() => document.querySelectorAll('#key-limits tbody tr[data-key]').length >= 1, null, { timeout });
  if (adminKey) check(await page.locator('#key-limits button.revoke').count() >= 1, 'an admin gets Revoke buttons on the keys page');

  // Phone width: the page never scrolls sideways, tables scroll inside themselves, the window
  // selector stays on screen, and the charts fit.
  await page.setViewportSize({ width: 390, height: 844 });
  await settle();
  const phone = await page.evaluate(() => {
    const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width }; };
    return {
      scrollWidth: document.documentElement.scrollWidth,
      bodyScrollWidth: document.body.scrollWidth,
      selector: box(document.getElementById('window')),
      tables: [...document.querySelectorAll('table.grid')].map((t) => ({ id: t.id, ...box(t), overflowX: getComputedStyle(t).overflowX, parentOverflowX: getComputedStyle(t.parentElement).overflowX })),
      charts: Object.values(window.__dashboard.charts).map((c) => box(c.plot.root)),
    };
  });
  check(phone.scrollWidth <= 390 && phone.bodyScrollWidth <= 390, `no sideways scroll at 390 px (scrollWidth ${phone.scrollWidth})`);
  const sel = phone.selector;
  check(sel.width > 0 && sel.left >= 0 && sel.right <= 390 && sel.top >= 0 && sel.bottom <= 844, `the window selector is on screen at 390 px (${JSON.stringify(sel)})`);
  for (const t of phone.tables) {
    check(t.left >= 0 && t.right <= 390 && (t.overflowX === 'auto' || t.parentOverflowX === 'auto'), `table ${t.id} fits and scrolls inside itself at 390 px`);
  }
  check(phone.charts.every((c) => c.left >= 0 && c.right <= 390), 'the charts fit at 390 px');
  await page.screenshot({ path: join(outDir, 'dashboard-390.png'), fullPage: true });
  await page.setViewportSize({ width: 1920, height: 1080 });
  await settle();

  // Axis labels are never clipped: each y axis is as wide as its longest label.
  const axes = await page.evaluate(() => Object.entries(window.__dashboard.charts).map(([name, c]) => {
    const axis = c.plot.axes[1];
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = axis.font[0];
    const widest = Math.max(0, ...(axis._values ?? []).map((v) => ctx.measureText(String(v)).width / devicePixelRatio));
    return { name, widest, room: axis._size - axis.ticks.size - axis.gap, labels: axis._values };
  }));
  for (const a of axes) check(a.widest > 0 && a.widest <= a.room, `${a.name} chart: y labels fit (${a.widest.toFixed(1)} <= ${a.room} px: ${a.labels})`);

  // Health: every judgement green; errors broken down by route and code.
  const status = await page.evaluate(() => window.__dashboard.last.status);
  if (status?.rabbitmq_management?.available) {
    await page.waitForFunction(() => ['ingest', 'dead_letters'].every((n) => document.querySelector(`[data-health="${n}"]`).classList.contains('up')), null, { timeout });
    check(await page.locator('#health-reason').isHidden(), 'audit ingest and dead letters are green, no reason shown');
  }
  await page.waitForFunction((n) => [...document.querySelectorAll('#errors tbody tr[data-code="provider_error"] td[data-col="count"]')]
    .reduce((a, td) => a + Number(td.textContent), 0) === n, expect.errors, { timeout });
  check(true, `the errors table counts ${expect.errors} provider_error by route`);
  const routes = await page.locator('#errors tbody tr[data-code="provider_error"]').evaluateAll((trs) => trs.map((tr) => tr.dataset.route));
  check(routes.length > 0 && routes.every((r) => r.startsWith('/')), `errors carry their route (${routes})`);

  // A stalled audit (the monitor's answer rewritten here): the ingest dot turns red with its reason.
  const stalled = 'audit ingest stalled: 42 messages waiting in the audit queues and no row stored for 31 s';
  await page.route(`${origin}/api/status`, async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.audit_ingest = { known: true, ok: false, stalled_for_s: 31, backlog: 42, consumers: 1, reason: stalled };
    await route.fulfill({ response: res, json: body });
  });
  await page.waitForFunction(() => document.querySelector('[data-health="ingest"]').classList.contains('down'), null, { timeout });
  check((await page.locator('#health-reason').textContent()) === stalled && await page.locator('#health-reason').isVisible(), 'a stalled ingest is red with its reason in the header');
  await page.unroute(`${origin}/api/status`);
  await page.waitForFunction(() => document.querySelector('[data-health="ingest"]').classList.contains('up') || !window.__dashboard.last.status.rabbitmq_management.available, null, { timeout });

  // A custom range before the traffic: nothing in it; back to 5 minutes: everything again.
  await page.selectOption('#window', 'custom');
  await page.locator('#range').waitFor({ state: 'visible', timeout });
  const local = (ms) => page.evaluate((t) => new Date(t - new Date(t).getTimezoneOffset() * 60000).toISOString().slice(0, 16), ms);
  const base = Date.now();
  await page.fill('#range-from', await local(base - 3 * 3600 * 1000));
  await page.fill('#range-to', await local(base - 2 * 3600 * 1000));
  await page.click('#range button[type=submit]');
  await page.waitForFunction(() => window.__dashboard.last.overview.window === '3600s' && window.__dashboard.last.overview.requests === 0, null, { timeout });
  check((await tile('requests_per_s', '.sub')).startsWith('0 completed'), 'a custom range before the traffic shows none of it');
  check(await page.locator('#errors tbody td.empty').count() === 1, 'and no errors');
  await page.waitForFunction(() => document.querySelector('#requests tbody td.empty') !== null, null, { timeout });
  check(true, 'and no requests listed: the list follows the window');
  await page.selectOption('#window', '5m');
  await page.waitForFunction((n) => window.__dashboard.last.overview.window === '5m' && window.__dashboard.last.overview.requests === n, expect.requests, { timeout });
  check(await page.locator('#range').isHidden(), 'a preset window hides the range form');
  await page.waitForFunction(() => /^DB \d/.test(document.getElementById('storage').textContent), null, { timeout });
  check(await page.evaluate(() => window.__dashboard.last.storage.database_bytes > 0), 'the header shows the database size (and the retention)');

  await page.fill('#filter-q', expect.search);
  await page.click('#filter button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#requests tbody tr[data-request]').length === 1, null, { timeout });
  check(true, `search "${expect.search}" leaves one request`);
  await page.selectOption('#filter-status', 'error');
  await page.waitForFunction(() => document.querySelector('#requests tbody td.empty') !== null, null, { timeout });
  check(true, 'search + status=error leaves none');
  await page.selectOption('#filter-status', '');
  await page.waitForFunction(() => document.querySelectorAll('#requests tbody tr[data-request]').length === 1, null, { timeout });

  await page.click(`#requests tbody tr[data-request="${expect.detail_request_id}"]`);
  const text = page.locator('#detail [data-field="response-text"]');
  await text.waitFor({ timeout });
  check(await page.locator('#detail').isVisible(), 'the detail view opens');
  check((await text.textContent()) === expect.detail_text, 'detail shows the response text');
  check((await page.locator('#detail-body').textContent()).includes(expect.detail_prompt), 'detail shows the prompt');
  await page.screenshot({ path: join(outDir, 'detail.png') });

  if (adminKey) {
    await page.keyboard.press('Escape');
    // Expected from the click on: a refresh already in flight when the session ends gets a 401.
    loggedOut = true;
    await page.click('#logout');
    await page.locator('#login').waitFor({ state: 'visible', timeout });
    check(!(await page.context().cookies()).some((c) => c.name === 'llmp_session'), 'logout deletes the session cookie');
    const after = await page.evaluate(async () => (await fetch('/api/overview')).status);
    check(after === 401, 'after logout the API answers 401');
  }
  if (viewerKey) {
    await login(viewerKey);
    await page.waitForFunction((n) => document.querySelectorAll('#requests tbody tr[data-request]').length === n, expect.requests, { timeout });
    check(await page.locator('#filter-q').isHidden(), 'a viewer gets no text search');
    await page.waitForFunction(() => document.querySelectorAll('#key-limits tbody tr[data-key]').length >= 1
      && document.querySelectorAll('#key-limits button.revoke').length === 0, null, { timeout });
    check(true, 'a viewer sees the keys\' limits and budgets but no Revoke button');
    const previews = await page.locator('#requests tbody td.preview').allTextContents();
    check(previews.every((p) => p.trim() === 'admins only'), 'a viewer sees no prompt previews');
    await page.click(`#requests tbody tr[data-request="${expect.detail_request_id}"]`);
    await page.locator('#detail [data-field="texts-hidden"]').waitFor({ timeout });
    const detail = await page.locator('#detail-body').textContent();
    check(!detail.includes(expect.detail_prompt) && !detail.includes(expect.detail_text), 'a viewer\'s detail has no prompt or answer');
    check(await page.locator('#detail [data-field="response-text"]').count() === 0, 'no response text block for a viewer');
    await page.screenshot({ path: join(outDir, 'detail-viewer.png') });
  }

  check(outside.length === 0, `no request left the monitor (${outside.join(', ')})`);
  check(problems.length === 0, `no page errors (${problems.join('; ')})`);
} catch (e) {
  console.error(e.stack ?? String(e));
  if (problems.length) console.error(problems.join('\n'));
  code = 1;
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
process.exit(code);
