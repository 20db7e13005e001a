// Browser tests of the dashboards in headless Chromium: the real `pinta up` (seeded year, embedded
// pipeline, gateway), both pages checked against the API and against the curated Parquet read by an
// independent reader (pyarrow), filters, URL state, CSV export, and a new day published by the
// pipeline (`--demo-every`) showing up on the open pages without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const artifacts = path.join(root, 'test-artifacts');
const CHROMIUM = process.env.PINTA_CHROMIUM || '/usr/bin/chromium';
const nf = new Intl.NumberFormat('es-MX');
const money = new Intl.NumberFormat('es-MX', { style: 'currency', currency: 'MXN' });

let pinta, browser, base, dataDir, profile, log = '';

function pintaBin() {
  if (process.env.PINTA_BIN) return process.env.PINTA_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
  return path.join(target, 'debug', 'pinta');
}

function python() {
  const p = process.env.PINTA_PYTHON;
  if (!p) throw new Error('PINTA_PYTHON is not set: run through scripts/test, which creates the Python environment with pyarrow');
  return p;
}

/** Totals of a curated Parquet file, computed by pyarrow (independent of the gateway's reader). */
function parquetTotals(file) {
  const script = `
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1]).to_pydict()
ops = {}
for o, q in zip(t["Operador"], t["Cantidad producida"]):
    ops[o] = ops.get(o, 0) + (q or 0)
print(json.dumps({"rows": len(t["Operador"]), "liters": sum(q or 0 for q in t["Cantidad producida"]),
  "cost": sum(c or 0 for c in t["Costo de la producción"]), "operators": ops,
  "paints": sorted(set(t["Tipo de pintura producida"]))}))`;
  return JSON.parse(execFileSync(python(), ['-c', script, file], { encoding: 'utf8' }));
}

const curatedFile = (day) => path.join(dataDir, 'produccion', day.slice(0, 7), `produccion_${day}.parquet`);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitFor(what, fn, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n--- pinta output ---\n${log.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function api(p) {
  const res = await fetch(base + p);
  assert.equal(res.status, 200, `${p}: HTTP ${res.status}`);
  return p.includes('.csv') ? res.text() : res.json();
}

async function open(url, viewport = { width: 1360, height: 1000 }) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true, locale: 'es-MX' });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + url);
  page.errors = errors;
  return page;
}

before(async () => {
  const bin = pintaBin();
  if (!fs.existsSync(bin)) throw new Error(`pinta binary not found at ${bin}: build it (cargo build -p pinta-cli) or set PINTA_BIN`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  python();
  fs.mkdirSync(artifacts, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pinta-browser-'));
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pinta-chromium-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = { ...process.env, PINTA_USERS: '', RUST_LOG: process.env.RUST_LOG || 'warn' };
  pinta = spawn(bin, ['--data-dir', dataDir, 'up', '--port', String(port), '--bind', '127.0.0.1', '--demo-every', '40s'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let ready = false;
  pinta.stdout.on('data', (d) => { log += d; if (/up to date/.test(log)) ready = true; });
  pinta.stderr.on('data', (d) => { log += d; });
  pinta.on('exit', (code) => { log += `\n[pinta exited with ${code}]`; });
  await waitFor('pinta up to finish processing the seeded year', () => ready, 600_000);
  await waitFor('/healthz', async () => (await fetch(base + '/healthz')).ok, 30_000);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (pinta && pinta.exitCode === null) {
    pinta.kill('SIGTERM');
    await new Promise((r) => { pinta.once('exit', r); setTimeout(r, 10_000); });
  }
  for (const d of [dataDir, profile]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

/** The numbers a page shows: KPI texts and the chart series read back from ECharts. */
async function shown(page) {
  return page.evaluate(() => {
    const t = (id) => document.getElementById(id).textContent;
    const series = (id) => {
      const c = echarts.getInstanceByDom(document.getElementById(id));
      const o = c.getOption();
      const cat = (o.yAxis[0].type === 'category' ? o.yAxis[0].data : o.xAxis[0].data) || [];
      return { categories: cat, data: o.series[0].data };
    };
    const pie = echarts.getInstanceByDom(document.getElementById('chart-cost')).getOption().series[0].data;
    return {
      date: document.body.dataset.date,
      kpis: { operators: t('kpi-operators'), paints: t('kpi-paints'), liters: t('kpi-liters'), cost: t('kpi-cost'), date: t('kpi-date') },
      byOperator: series('chart-operator'), byPaint: series('chart-paint'), pie,
      rows: document.querySelectorAll('#rows tbody tr').length,
      live: document.getElementById('live').className,
    };
  });
}

function assertMatches(s, view, totals) {
  assert.equal(s.kpis.liters, nf.format(view.kpis.liters));
  assert.equal(s.kpis.cost, money.format(view.kpis.total_cost));
  assert.equal(s.kpis.operators, nf.format(view.kpis.operators));
  assert.equal(s.kpis.paints, nf.format(view.kpis.paint_types));
  assert.equal(s.rows, view.rows.length);
  // Horizontal bars are drawn bottom-up: largest last.
  assert.deepEqual(s.byOperator.categories.slice().reverse(), view.by_operator.map((g) => g.name));
  assert.deepEqual(s.byOperator.data.slice().reverse(), view.by_operator.map((g) => g.liters));
  assert.deepEqual(s.byPaint.categories, view.by_paint.map((g) => g.name));
  assert.deepEqual(s.byPaint.data, view.by_paint.map((g) => g.liters));
  assert.equal(s.pie.length, view.by_paint.length);
  if (totals) {
    assert.equal(view.kpis.liters, totals.liters);
    assert.ok(Math.abs(view.kpis.total_cost - totals.cost) < 0.01, `cost ${view.kpis.total_cost} vs pyarrow ${totals.cost}`);
    assert.equal(view.rows.length, totals.rows);
    for (const g of view.by_operator) assert.equal(g.liters, totals.operators[g.name], g.name);
    assert.deepEqual([...view.options.paints].sort(), totals.paints);
  }
}

let managers, operations, operationsLatest, shownDay;

test('managers dashboard shows the latest day: KPIs, charts and table equal the API and the Parquet', async () => {
  managers = await open('/');
  await managers.evaluate(() => { window.__noReload = true; });
  await waitFor('the managers page to render', () => managers.evaluate(() => !!document.body.dataset.date && document.querySelectorAll('#rows tbody tr').length > 0), 30_000);
  await waitFor('the live indicator', async () => (await shown(managers)).live.includes('on'), 30_000);
  const s = await shown(managers);
  shownDay = s.date;
  const view = await api(`/api/production/${s.date}`);
  assertMatches(s, view, parquetTotals(curatedFile(s.date)));
  assert.match(s.kpis.date, new RegExp(String(Number(s.date.slice(8, 10)))));
  assert.notEqual(await managers.textContent('#updated'), '—');
  assert.deepEqual(managers.errors, []);
  await managers.screenshot({ path: path.join(artifacts, 'gerencial.png'), fullPage: true });
});

test('operations dashboard: filters, click-to-filter, URL state across reload, sorting, CSV export, quarantine', async () => {
  const days = (await api('/api/days')).days;
  const year = days[days.length - 1].slice(0, 4);
  // Pick an older day of the current year with quarantined rows if there is one.
  let day = days.filter((d) => d.startsWith(year))[0];
  for (const d of days.filter((x) => x.startsWith(year)).reverse().slice(1, 60)) {
    if ((await api(`/api/quarantine/${d}`)).rows.length > 0) { day = d; break; }
  }
  operations = await open(`/operativo?date=${day}`);
  await waitFor('the operations page to render', () => operations.evaluate((d) => document.body.dataset.date === d, day), 30_000);
  // The day picker offers exactly the days of the year that have data.
  const offered = await operations.$$eval('#f-date option', (os) => os.map((o) => o.value).filter((v) => v !== 'latest'));
  assert.deepEqual(offered.slice().sort(), days.filter((d) => d.startsWith(year)).sort());
  const full = await api(`/api/production/${day}`);
  assertMatches(await shown(operations), full, parquetTotals(curatedFile(day)));

  // Filters: two operators and a minimum quantity.
  const ops = full.options.operators.slice(0, 2);
  const min = Math.floor(full.options.max_quantity / 3);
  await operations.selectOption('#f-operator', ops);
  await operations.$eval('#f-min', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('change')); }, min);
  const q = new URLSearchParams();
  ops.forEach((o) => q.append('operator', o));
  q.set('min_qty', String(min));
  const filtered = await api(`/api/production/${day}?${q}`);
  assert.ok(filtered.rows.length < full.rows.length, 'the filters should remove rows');
  await waitFor('the filtered table', async () => (await shown(operations)).rows === filtered.rows.length && (await shown(operations)).kpis.liters === nf.format(filtered.kpis.liters), 15_000);
  assertMatches(await shown(operations), filtered);
  const url = new URL(operations.url());
  assert.deepEqual(url.searchParams.getAll('operator'), ops);
  assert.equal(url.searchParams.get('min_qty'), String(min));
  assert.equal(url.searchParams.get('date'), day);

  // Sorting by quantity, descending (two clicks).
  await operations.click('#rows th[data-key="cantidad"]');
  await operations.click('#rows th[data-key="cantidad"]');
  const qty = await operations.$$eval('#rows tbody tr td:nth-child(4)', (tds) => tds.map((td) => Number(td.textContent.replace(/[^\d]/g, ''))));
  assert.deepEqual(qty, qty.slice().sort((a, b) => b - a));
  assert.equal(new URL(operations.url()).searchParams.get('sort'), 'cantidad:desc');

  // Export: exactly the filtered rows.
  const [download] = await Promise.all([operations.waitForEvent('download'), operations.click('#export')]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  assert.equal(lines[0], 'Fecha de producción,Tipo de pintura producida,Cantidad producida,Costo por litro producido,Costo de la producción,Operador');
  assert.equal(lines.length - 1, filtered.rows.length);
  assert.equal(csv, await api(`/api/production/${day}/export.csv?${q}`));
  for (const line of lines.slice(1)) assert.ok(ops.includes(line.split(',').at(-1)), line);

  // The state survives a reload.
  await operations.reload();
  await waitFor('the reloaded page', async () => (await shown(operations)).rows === filtered.rows.length, 15_000);
  const selected = await operations.$$eval('#f-operator option:checked', (os) => os.map((o) => o.value));
  assert.deepEqual(selected, ops);

  // Click-to-filter on a chart: a real mouse click in the middle of the biggest paint bar.
  const top = filtered.by_paint[0];
  await operations.locator('#chart-paint').scrollIntoViewIfNeeded();
  // ECharts grows the bars into place (about 1 s); a click on a bar still growing hits the background.
  await operations.waitForTimeout(1500);
  const box = await operations.locator('#chart-paint').boundingBox();
  const [x, y] = await operations.evaluate(([name, v]) => echarts.getInstanceByDom(document.getElementById('chart-paint')).convertToPixel({ seriesIndex: 0 }, [name, v]), [top.name, top.liters / 2]);
  await operations.mouse.click(box.x + x, box.y + y);
  await waitFor('the paint filter from the chart click', () => new URL(operations.url()).searchParams.getAll('paint').includes(top.name), 10_000);
  const byPaint = await api(`/api/production/${day}?${q}&paint=${encodeURIComponent(top.name)}`);
  await waitFor('the table filtered by the clicked paint', async () => (await shown(operations)).rows === byPaint.rows.length, 10_000);

  // Quarantine of the day.
  const quarantine = await api(`/api/quarantine/${day}`);
  await waitFor('the quarantine table', async () => (await operations.textContent('#q-count')) === nf.format(quarantine.rows.length), 10_000);
  if (quarantine.rows.length > 0) {
    const firstReasons = await operations.textContent('#quarantine tbody tr td:nth-child(2)');
    assert.equal(firstReasons, quarantine.rows[0].reasons.join(', '));
  }
  assert.deepEqual(operations.errors, []);
  await operations.screenshot({ path: path.join(artifacts, 'operativo.png'), fullPage: true });
});

test('a day published by the pipeline appears on the open pages without a reload', async () => {
  operationsLatest = await open('/operativo?date=latest');
  await operationsLatest.evaluate(() => { window.__noReload = true; });
  await waitFor('the latest operations page', () => operationsLatest.evaluate(() => !!document.body.dataset.date), 30_000);
  const before = shownDay;
  // The demo clock publishes a new complete day every 40 s.
  const next = await waitFor('the managers page to switch to a new day', async () => {
    const d = await managers.evaluate(() => document.body.dataset.date);
    return d > before ? d : null;
  }, 180_000);
  assert.equal(await managers.evaluate(() => window.__noReload), true, 'the managers page was reloaded');
  const s = await shown(managers);
  const latest = await api('/api/production/latest');
  assert.ok(s.date <= latest.production_date);
  assertMatches(s, await api(`/api/production/${s.date}`), parquetTotals(curatedFile(s.date)));
  // The operations page on "latest" follows it; the one on an older day offers it.
  await waitFor('the operations page on "latest" to follow', () => operationsLatest.evaluate((d) => document.body.dataset.date >= d, next), 30_000);
  assert.equal(await operationsLatest.evaluate(() => window.__noReload), true);
  await waitFor('the operations page on an older day to offer the new one', () => operations.isVisible('#go-latest'), 30_000);
  await managers.screenshot({ path: path.join(artifacts, 'gerencial-nuevo-dia.png'), fullPage: true });
});

test('the managers dashboard fits a phone-sized screen', async () => {
  const phone = await open('/', { width: 390, height: 844 });
  await waitFor('the phone page', () => phone.evaluate(() => document.querySelectorAll('#rows tbody tr').length > 0), 30_000);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
  const widths = await phone.$$eval('.chart', (cs) => cs.map((c) => c.getBoundingClientRect().width));
  assert.ok(widths.every((w) => w > 300 && w <= 390), `chart widths ${widths}`);
  await phone.screenshot({ path: path.join(artifacts, 'gerencial-movil.png'), fullPage: true });
});
