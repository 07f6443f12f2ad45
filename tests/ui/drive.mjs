// Drives Debian's chromium (headless) with puppeteer-core for tests/netns/test_dashboard.py and
// bench/ui_bench.py: one JSON request a line on stdin, one JSON answer a line on stdout
// ({"id", "ok", "value"} or {"id", "ok": false, "error"}). The caller holds the assertions; this
// file only does what it is told and records what each page did wrong:
//   errors: console errors, uncaught exceptions, failed requests, HTTP answers >= 400 and any
//           request to another origin than the page's (the dashboard must not leave the gateway).
//
// Requests (page: a name the caller picks):
//   {op:"open", page, url, width?, height?, dark?, own_context?}
//                                                    new tab, load, wait for the first render
//   {op:"eval", page, expr}                          the value of a JS expression in the page
//   {op:"wait", page, expr, timeout_ms}              until expr is truthy; {value, waited_ms}
//   {op:"press", page, key} / {op:"type", page, text} keyboard input to the focused element
//   {op:"focus", page, selector}
//   {op:"axe", page, tags?}                          axe-core's violations (id, impact, nodes)
//   {op:"screenshot", page, path, full_page?}
//   {op:"errors", page, clear?}                      what was recorded (and forget it)
//   {op:"reload", page} / {op:"close", page} / {op:"quit"}
// Run as: node drive.mjs [--chromium /usr/bin/chromium]
import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const chromium = argv.includes("--chromium") ? argv[argv.indexOf("--chromium") + 1] : "/usr/bin/chromium";

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true, // --headless=new
  args: [
    ...(process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : []),
    "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
  ],
});

const pages = new Map(); // name -> {page, errors, origin}

function record(p, kind, text) {
  p.errors.push({ kind, text: String(text).slice(0, 500) });
}

async function open({ page: name, url, width = 1440, height = 900, dark = false, own_context = false }) {
  // own_context: a separate profile (cookies, storage, its own connections to the daemon),
  // as another person's browser would be; a browser holds at most 6 connections to a host.
  const context = own_context ? await browser.createBrowserContext() : null;
  const page = await (context || browser).newPage();
  const p = { page, context, errors: [], origin: new URL(url).origin };
  pages.set(name, p);
  await page.setViewport({ width, height, deviceScaleFactor: 1 });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: dark ? "dark" : "light" }]);
  page.on("console", (m) => { if (m.type() === "error") record(p, "console", m.text()); });
  page.on("pageerror", (e) => record(p, "exception", e.message));
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText || "failed";
    // An EventSource the page closes itself ends as "aborted"; that is not a failure.
    if (why === "net::ERR_ABORTED" && r.resourceType() === "eventsource") return;
    record(p, "request", `${r.method()} ${r.url()}: ${why}`);
  });
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith("data:") && new URL(u).origin !== p.origin) record(p, "foreign", `${r.method()} ${u}`);
  });
  page.on("response", (r) => { if (r.status() >= 400) record(p, "http", `${r.status()} ${r.request().method()} ${r.url()}`); });
  const t0 = Date.now();
  await page.goto(url, { waitUntil: "load", timeout: 15000 });
  await page.waitForFunction(() => document.body.dataset.ready === "status", { timeout: 15000 });
  return { load_ms: Date.now() - t0, ...(await timing(page)) };
}

// Navigation timing and the page's own mark for its first render of the status.
function timing(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const mark = performance.getEntriesByName("ps-first-render")[0];
    // The page's own files (the document, its scripts and style sheets), not the API's answers.
    const bytes = performance.getEntriesByType("resource").filter((r) => r.initiatorType === "script" || r.initiatorType === "link")
      .reduce((a, r) => a + (r.decodedBodySize || 0), nav ? nav.decodedBodySize : 0);
    return {
      dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
      load_event_ms: nav ? nav.loadEventEnd : null,
      first_render_ms: mark ? mark.startTime : null,
      decoded_bytes: bytes,
    };
  });
}

function get(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page ${name}`);
  return p;
}

const ops = {
  open,
  async eval({ page, expr }) {
    return get(page).page.evaluate(expr);
  },
  async wait({ page, expr, timeout_ms = 5000 }) {
    const t0 = Date.now();
    const h = await get(page).page.waitForFunction(expr, { timeout: timeout_ms, polling: 20 });
    return { value: await h.jsonValue(), waited_ms: Date.now() - t0 };
  },
  async press({ page, key }) {
    await get(page).page.keyboard.press(key);
    return get(page).page.evaluate(() => {
      const a = document.activeElement;
      return a ? { tag: a.tagName, id: a.id, name: a.getAttribute("name"), type: a.getAttribute("type") } : null;
    });
  },
  async type({ page, text }) {
    await get(page).page.keyboard.type(text);
    return true;
  },
  async focus({ page, selector }) {
    await get(page).page.focus(selector);
    return true;
  },
  async axe({ page, tags = ["wcag2a", "wcag2aa"] }) {
    const pg = get(page).page;
    // Evaluated through DevTools, so the page's Content-Security-Policy does not apply to it.
    const src = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
    await pg.evaluate(src);
    return pg.evaluate(async (t) => {
      const r = await window.axe.run(document, { runOnly: { type: "tag", values: t }, resultTypes: ["violations"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
    }, tags);
  },
  async screenshot({ page, path, full_page = true }) {
    await get(page).page.screenshot({ path, fullPage: full_page });
    return path;
  },
  async errors({ page, clear = false }) {
    const p = get(page), out = p.errors.slice();
    if (clear) p.errors.length = 0;
    return out;
  },
  async reload({ page }) {
    const pg = get(page).page;
    await pg.reload({ waitUntil: "load" });
    await pg.waitForFunction(() => document.body.dataset.ready === "status", { timeout: 15000 });
    return timing(pg);
  },
  async close({ page }) {
    const p = get(page);
    await p.page.close();
    if (p.context) await p.context.close();
    pages.delete(page);
    return true;
  },
};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
out({ id: 0, ok: true, value: { ready: true, version: await browser.version() } });

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    out({ id: null, ok: false, error: `bad request: ${e.message}` });
    continue;
  }
  if (req.op === "quit") break;
  try {
    const f = ops[req.op];
    if (!f) throw new Error(`unknown op ${req.op}`);
    out({ id: req.id, ok: true, value: await f(req) });
  } catch (e) {
    out({ id: req.id, ok: false, error: String(e && e.stack ? e.stack : e) });
  }
}
await browser.close();
