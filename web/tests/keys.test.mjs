// Browser test of the dashboard's API-key parts (issue 14 item 7): Debian's Chromium (headless)
// driven by playwright-core against a running `llmproxy monitor` whose audit holds requests made
// with known keys. Run by tests/integration/key_audit_e2e_test.cpp, which passes:
//   MONITOR_URL   http://127.0.0.1:<port>
//   EXPECT_JSON   {"total": n, "keys": [{"id", "name", "requests"}]}
//   OUTPUT_DIR    where the screenshot goes
// Checks: the Keys section lists each key with its count and draws tokens per key per day; each
// request row shows its key's name; the key filter narrows the list to that key's requests.
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
