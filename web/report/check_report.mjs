// Opens a Lucent report.html in headless Chromium and checks that it works offline:
// no console error, no page error, no network request, no dialog (a hostile id must stay
// text), every chart drawn as SVG with marks; saves a full-page screenshot.
//
//   node check_report.mjs REPORT.html SHOT.png [--charts roc,pr,...] [--text STRING]... [--thumbnails N]
//
// --charts: ids that must be drawn (chart-<id>); --text: a table cell must hold exactly this
// text; --thumbnails: at least N images in the table. Prints a JSON summary; exit 1 on failure.
// Chromium: $CHROMIUM, else /usr/bin/chromium (Debian's package).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

const args = process.argv.slice(2);
if (args.length < 2) {
  console.error('usage: node check_report.mjs REPORT.html SHOT.png [--charts a,b] [--text S]... [--thumbnails N]');
  process.exit(2);
}
const [htmlPath, shotPath] = args;
let charts = [];
const texts = [];
let thumbnails = 0;
for (let i = 2; i + 1 < args.length; i += 2) {
  if (args[i] === '--charts') charts = args[i + 1].split(',').filter(Boolean);
  else if (args[i] === '--text') texts.push(args[i + 1]);
  else if (args[i] === '--thumbnails') thumbnails = Number(args[i + 1]);
}

const problems = [];
const warnings = [];
const url = pathToFileURL(path.resolve(htmlPath)).href;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push('console error: ' + m.text());
    else if (m.type() === 'warn' || m.type() === 'warning') warnings.push(m.text());
  });
  page.on('pageerror', (e) => problems.push('page error: ' + (e && e.message ? e.message : String(e))));
  page.on('dialog', async (d) => {
    problems.push('dialog opened (' + d.type() + '): ' + d.message());
    await d.dismiss();
  });
  await page.setRequestInterception(true);
  page.on('request', (r) => {
    const u = r.url();
    if (u === url || u.startsWith('data:')) r.continue();
    else {
      problems.push('network request: ' + u);
      r.abort();
    }
  });
  await page.goto(url, { waitUntil: 'load', timeout: 60000 });
  try {
    await page.waitForFunction(() => window.lucentReport && window.lucentReport.done, { timeout: 60000 });
  } catch (e) {
    problems.push('charts not finished within 60 s');
  }
  const state = await page.evaluate((texts) => {
    const r = window.lucentReport || {};
    const drawn = {};
    document.querySelectorAll('.chart').forEach((c) => {
      drawn[c.id.replace(/^chart-/, '')] = {
        svg: c.querySelectorAll('svg').length,
        marks: c.querySelectorAll('svg .role-mark').length,
      };
    });
    const cells = Array.from(document.querySelectorAll('td')).map((td) => td.textContent);
    return {
      expected: r.expected, rendered: r.rendered, failed: r.failed, errors: r.errors, drawn,
      scripts: document.scripts.length,
      thumbnails: Array.from(document.querySelectorAll('img.thumb')).filter((i) => i.complete && i.naturalWidth > 0).length,
      texts: texts.map((t) => cells.includes(t)),
      height: document.body.scrollHeight,
    };
  }, texts);
  if (!state.expected || state.rendered !== state.expected || state.failed)
    problems.push(`charts: ${state.rendered} of ${state.expected} drawn, ${state.failed} failed ${JSON.stringify(state.errors)}`);
  for (const id of charts) {
    const d = state.drawn[id];
    if (!d) problems.push(`chart ${id}: missing`);
    else if (!d.svg || !d.marks) problems.push(`chart ${id}: ${d.svg} svg, ${d.marks} marks`);
  }
  if (state.scripts !== 5) problems.push(`${state.scripts} script elements, expected 5 (data, 3 libraries, page)`);
  texts.forEach((t, i) => { if (!state.texts[i]) problems.push('no table cell with text ' + JSON.stringify(t)); });
  if (state.thumbnails < thumbnails) problems.push(`${state.thumbnails} thumbnails shown, expected at least ${thumbnails}`);
  fs.mkdirSync(path.dirname(path.resolve(shotPath)), { recursive: true });
  await page.screenshot({ path: shotPath, fullPage: true });
  console.log(JSON.stringify({ report: htmlPath, screenshot: shotPath, ...state, warnings, problems }, null, 1));
} finally {
  await browser.close();
}
process.exit(problems.length ? 1 : 0);
