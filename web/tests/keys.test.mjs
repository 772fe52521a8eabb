// Browser test of the dashboard's API-key parts (issue 14 item 7): Debian's Chromium (headless)
// driven by playwright-core against a running `llmproxy monitor` whose audit holds requests made
// with known keys. Run by tests/integration/key_audit_e2e_test.cpp, which passes:
//   MONITOR_URL   http://127.0.0.1:<port>
//   EXPECT_JSON   {"total": n, "keys": [{"id", "name", "requests", "rpm", "used_today",
//                 "daily_tokens", "monthly_tokens"}], "revoke": id of the key to revoke}
//   OUTPUT_DIR    where the screenshot goes
// Checks: the Keys section lists each key with its count and draws tokens per key per day; it
// shows each key's limits and what is left of its daily and monthly budget; Revoke asks first
// (dismissed: nothing happens), then revokes (the caller then checks the API refuses the key);
// each request row shows its key's name; the key filter narrows the list to that key's requests.
// The monitor runs with --auth none, so the page is an admin's.
// Exit code 0 = every check passed; otherwise the first failure is printed.
import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.MONITOR_URL;
const expect = JSON.parse(process.env.EXPECT_JSON ?? '{}');
const outDir = process.env.OUTPUT_DIR ?? '.';
if (!url) {
  console.error('MONITOR_URL is not set');
  process.exit(2);
}

const timeout = 20000;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

const profile = await mkdtemp(join(tmpdir(), 'llmp-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1920, height: 1080 },
});
const problems = [];
let code = 0;
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  await page.goto(url, { waitUntil: 'load' });

  // The Keys section: one row per key with its completed requests, and the daily chart.
  await page.waitForFunction((n) => document.querySelectorAll('#keys tbody tr[data-key]').length === n,
    expect.keys.length, { timeout });
  for (const k of expect.keys) {
    const cell = page.locator(`#keys tr[data-key="${k.id}"] td[data-col="requests"]`);
    check((await cell.textContent()).trim() === String(k.requests), `key ${k.name}: ${k.requests} requests`);
    check((await page.locator(`#keys tr[data-key="${k.id}"] td`).first().textContent()).includes(k.name),
      `key ${k.name} is named in its row`);
  }
  const chart = await page.evaluate(() => {
    const c = window.__dashboard.charts.keys;
    return { series: c.plot.series.length - 1, points: c.plot.data[0].length,
      nonZero: c.plot.data.slice(1).some((s) => s.some((v) => v > 0)) };
  });
  check(chart.series === expect.keys.length, `the daily chart has one series per key (${chart.series})`);
  check(chart.points >= 30 && chart.nonZero, `the daily chart has 30 days and today's tokens (${chart.points} points)`);
  check((await page.locator('#keys-csv').getAttribute('href')) === '/api/usage/daily.csv', 'the CSV link');

  // Limits and budgets: each key's limits, today's tokens against its daily budget, and the month's.
  await page.waitForFunction((n) => document.querySelectorAll('#key-limits tbody tr[data-key]').length === n,
    expect.keys.length, { timeout });
  const fmt = (v) => (v === null ? '–' : v.toLocaleString('en-US'));
  for (const k of expect.keys) {
    const row = `#key-limits tr[data-key="${k.id}"]`;
    const rpm = (await page.locator(`${row} td[data-col="rpm"]`).textContent()).trim();
    check(rpm === fmt(k.rpm), `key ${k.name}: requests/min ${rpm}`);
    const today = page.locator(`${row} td[data-col="today"]`);
    check(await today.getAttribute('data-used') === String(k.used_today), `key ${k.name}: ${k.used_today} tokens today`);
    const todayText = await today.textContent();
    if (k.daily_tokens === null) {
      check(todayText.includes('no budget'), `key ${k.name}: no daily budget`);
    } else {
      const left = k.daily_tokens - k.used_today;
      check(await today.getAttribute('data-left') === String(left) && todayText.includes(`${fmt(k.used_today)} / ${fmt(k.daily_tokens)}`)
        && todayText.includes(`${fmt(left)} left`), `key ${k.name}: ${fmt(left)} of ${fmt(k.daily_tokens)} tokens left today (${todayText.trim()})`);
    }
    const month = page.locator(`${row} td[data-col="month"]`);
    check((await month.getAttribute('data-budget')) === (k.monthly_tokens === null ? null : String(k.monthly_tokens)),
      `key ${k.name}: monthly budget ${fmt(k.monthly_tokens)}`);
    check(await page.locator(`${row} button.revoke`).count() === 1, `key ${k.name} has a Revoke button`);
  }

  // Revoke asks first: dismissed, nothing is sent; accepted, the key is revoked and its row says so.
  const deletes = [];
  page.on('request', (r) => { if (r.method() === 'DELETE') deletes.push(r.url()); });
  const revokeRow = `#key-limits tr[data-key="${expect.revoke}"]`;
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
  await page.click(`${revokeRow} button.revoke`);
  const seen = await page.evaluate(() => window.__dashboard.refreshes);
  await page.waitForFunction((n) => window.__dashboard.refreshes > n, seen, { timeout });
  const name = await page.locator(revokeRow).getAttribute('data-name');
  check(asked.includes(name) && deletes.length === 0 && await page.locator(`${revokeRow}[data-revoked]`).count() === 0,
    `Revoke asks first ("${asked}"); dismissed, nothing is sent`);
  page.once('dialog', (d) => d.accept());
  await page.click(`${revokeRow} button.revoke`);
  await page.locator(`${revokeRow}[data-revoked]`).waitFor({ timeout });
  check(deletes.length === 1 && deletes[0].endsWith(`/api/keys/${encodeURIComponent(name)}`), `Revoke sent DELETE ${deletes[0]}`);
  check((await page.locator(revokeRow).textContent()).includes('revoked') && await page.locator(`${revokeRow} button.revoke`).count() === 0,
    'the revoked key\'s row says so and has no Revoke button');
  await page.screenshot({ path: join(outDir, 'keys-limits.png'), fullPage: true });

  // Request rows carry the key's name; the key filter keeps one key's requests.
  await page.waitForFunction((n) => document.querySelectorAll('#requests tbody tr[data-request]').length === n,
    expect.total, { timeout });
  const names = await page.locator('#requests tbody td[data-col="key"]').allTextContents();
  for (const k of expect.keys) {
    check(names.filter((n) => n.trim() === k.name).length === k.requests, `${k.requests} request rows show key ${k.name}`);
  }
  await page.screenshot({ path: join(outDir, 'keys.png'), fullPage: true });
  const one = expect.keys[0];
  await page.selectOption('#filter-key', { label: one.name });
  await page.waitForFunction((n) => document.querySelectorAll('#requests tbody tr[data-request]').length === n,
    one.requests, { timeout });
  const filtered = await page.locator('#requests tbody td[data-col="key"]').allTextContents();
  check(filtered.every((n) => n.trim() === one.name), `the key filter keeps only ${one.name}'s requests`);
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
