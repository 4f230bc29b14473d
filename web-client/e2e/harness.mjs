// What the end-to-end tests share: the real `yishi` binary on a fresh SQLite database
// with a room, join links made by its CLI, a TCP proxy that can cut one browser's
// connection, Debian's Chromium driven by playwright-core, and axe-core audits.
//
// YISHI_BIN overrides the binary, CHROMIUM the browser.

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, openSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const bin = process.env.YISHI_BIN ?? resolve(here, "../../target/debug/yishi");
export const shots = resolve(here, "../test-results");
/** The password `env.staff` sets for every account it adds. */
export const STAFF_PASSWORD = "一把足够长的钥匙123";
const axePath = resolve(here, "../node_modules/axe-core/axe.min.js");
mkdirSync(shots, { recursive: true });

/**
 * A TCP proxy in front of the server for one member's browser, so the test can cut that
 * member's network for real (Chromium's offline mode leaves open WebSockets alone).
 */
export function startProxy(targetPort) {
  const pairs = new Set();
  let down = false;
  const srv = createServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(targetPort, "127.0.0.1");
    const pair = [client, upstream];
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((ok) =>
    srv.listen(0, "127.0.0.1", () =>
      ok({
        port: srv.address().port,
        cut() {
          down = true;
          for (const [a, b] of pairs) {
            a.destroy();
            b.destroy();
          }
        },
        restore() {
          down = false;
        },
        close: () => srv.close(),
      }),
    ),
  );
}

function freePort() {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * Start the server (room `e2e`), a proxy and Chromium.
 *
 * `log`: a file for the server's output (else it goes to the test's), `rustLog` its
 * RUST_LOG, `chromiumArgs` more browser flags, `serverEnv` more of the server's
 * environment (e.g. `YISHI_STAFF_IDLE`).
 */
export async function startYishi({ log, rustLog = "warn", chromiumArgs = [], serverEnv = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "yishi-e2e-"));
  const env = {
    ...process.env,
    YISHI_DATABASE: `sqlite://${join(dir, "yishi.db")}`,
    YISHI_DATA_DIR: dir,
    YISHI_TOKEN_KEYS: "e2e:e2e-secret-key-0123456789",
    YISHI_ADMIN_KEY: "e2e-admin-key-0123456789",
    RUST_LOG: rustLog,
  };
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const yishi = (...args) => execFileSync(bin, args, { env: { ...env, YISHI_PUBLIC_URL: base }, encoding: "utf8" }).trim();
  yishi("room", "create", "--id", "e2e", "--title", "浏览器测试协商会");
  const proxy = await startProxy(port);
  const origins = `${base},http://127.0.0.1:${proxy.port}`;
  const out = log ? openSync(log, "w") : "inherit";
  const server = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...env, YISHI_PUBLIC_URL: base, YISHI_ALLOWED_ORIGINS: origins, ...serverEnv },
    stdio: ["ignore", out, out],
  });
  let browser;
  try {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", ...chromiumArgs],
    });
  } catch (e) {
    proxy.close();
    server.kill("SIGTERM");
    throw e;
  }

  /** A join link made by the CLI. */
  const link = (role, name, id, extra = []) => {
    const args = ["token", "--room", "e2e", "--role", role, "--ttl", "1h"];
    if (name) args.push("--name", name);
    if (id) args.push("--id", id);
    return yishi(...args, ...extra);
  };
  /** A join link with a token made here (for expired, not-yet-valid or unknown-room links). */
  const mintedLink = (claims) => {
    const now = Math.floor(Date.now() / 1000);
    const token = mint({ room: "e2e", sub: "m-minted", name: "测试委员", role: "member", exp: now + 3600, iat: now, jti: randomBytes(8).toString("hex"), ...claims });
    return `${base}/join#room=${encodeURIComponent(claims.room ?? "e2e")}&token=${token}`;
  };
  /** The same link through the proxy. */
  const viaProxy = (url) => url.replace(base, `http://127.0.0.1:${proxy.port}`);

  /** A browser context on `url`, past the join screen (shot and audited). */
  const open = async (url, name, viewport = { width: 1366, height: 768 }, { locale = "zh-CN", audit = true } = {}) => {
    // bypassCSP only so axe-core can be injected for the audit; the CSP itself is checked by the server tests.
    const context = await browser.newContext({ viewport, locale, bypassCSP: true });
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error(`[${name}] page error:`, e.message));
    await page.goto(url);
    // The join screen: who the link is for, then in.
    await page.getByTestId("join-name").waitFor();
    if (audit) {
      await shot(page, `join-${name}`);
      await accessible(page, `${name}'s join screen`);
    }
    await page.getByTestId("enter").click();
    await page.locator("[data-testid=meeting], [data-testid=projector], [data-testid=closed-screen], [data-testid=end-screen]").first().waitFor();
    return { context, page, name };
  };

  /** A staff member of the console, added by `yishi staff add`, with the password set
   * through the printed link and logged in: the page, on the console's first tab. Its
   * context accepts downloads and, with `clipboard`, may read and write the clipboard. */
  const staff = async (name, role, { viewport = { width: 1366, height: 768 }, clipboard = false } = {}) => {
    const link = yishi("staff", "add", name, "--role", role);
    const context = await browser.newContext({ viewport, locale: "zh-CN", bypassCSP: true, acceptDownloads: true });
    if (clipboard) await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const p = await context.newPage();
    p.on("pageerror", (e) => console.error(`[${name}] page error:`, e.message));
    p.on("dialog", (d) => d.accept());
    await p.goto(link);
    await p.getByTestId("new-password").fill(STAFF_PASSWORD);
    await p.getByTestId("repeat-password").fill(STAFF_PASSWORD);
    await p.getByTestId("save-password").click();
    await p.getByTestId("login").waitFor();
    await p.getByTestId("login-name").fill(name);
    await p.getByTestId("login-password").fill(STAFF_PASSWORD);
    await p.getByTestId("login-submit").click();
    await p.getByTestId("me").waitFor();
    return p;
  };

  const stop = async () => {
    await browser.close();
    proxy.close();
    server.kill("SIGTERM");
  };

  return { dir, base, proxy, browser, server, yishi, link, mintedLink, viaProxy, open, staff, stop };
}

/** An HS256 join token signed with the test key (kid `e2e`), as the server mints them. */
export function mint(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${b64({ typ: "JWT", alg: "HS256", kid: "e2e" })}.${b64(claims)}`;
  const sig = createHmac("sha256", "e2e-secret-key-0123456789").update(body).digest("base64url");
  return `${body}.${sig}`;
}

/**
 * No serious or critical accessibility violations (axe-core); with `enhanced`, also
 * the 7:1 contrast of the high-contrast mode.
 */
export async function accessible(page, what, { enhanced = false } = {}) {
  // The 7:1 rule is for the high-contrast mode: measured in it, not in the frame before.
  if (enhanced) await page.locator("html.contrast").waitFor({ state: "attached" });
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: axePath });
  const rules = enhanced ? { "color-contrast-enhanced": { enabled: true } } : {};
  const result = await page.evaluate(async (rules) => await window.axe.run(document, { resultTypes: ["violations"], rules }), rules);
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical" || v.id === "color-contrast-enhanced");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.length}: ${v.nodes.slice(0, 2).map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `${what} has serious accessibility violations`,
  );
}

export async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

/** The sizes every meeting view must fit without page scroll (UX.md). */
export const SIZES = [
  { width: 1366, height: 768 },
  { width: 1280, height: 800 },
  { width: 1920, height: 1080 },
  { width: 360, height: 740 },
];

/** The page does not scroll, either way; returns the sizes for the message. */
export async function fits(page, what) {
  const m = await page.evaluate(() => ({
    h: document.documentElement.scrollHeight,
    ih: window.innerHeight,
    w: document.documentElement.scrollWidth,
    iw: window.innerWidth,
    below: [...document.querySelectorAll("#app, #app > *, #app > * > *")].map((el) => `${el.tagName.toLowerCase()}.${el.className}:${Math.round(el.getBoundingClientRect().bottom)}/${el.scrollHeight}`),
  }));
  assert.ok(m.h <= m.ih, `${what}: the page scrolls (scrollHeight ${m.h} > innerHeight ${m.ih}; below: ${m.below.join(", ")})`);
  assert.ok(m.w <= m.iw, `${what}: the page scrolls sideways (scrollWidth ${m.w} > innerWidth ${m.iw})`);
}

/** Each selector matches a visible element lying wholly inside the viewport. */
export async function inView(page, selectors, what) {
  for (const sel of selectors) {
    const box = await page.evaluate((s) => {
      const els = [...document.querySelectorAll(s)].filter((e) => e.getClientRects().length > 0);
      const el = els[0];
      if (!el) return null;
      const r = el.getBoundingClientRect();
      return { top: r.top, left: r.left, bottom: r.bottom, right: r.right, w: window.innerWidth, h: window.innerHeight };
    }, sel);
    assert.ok(box, `${what}: ${sel} is not on the screen`);
    assert.ok(box.top >= -1 && box.left >= -1 && box.bottom <= box.h + 1 && box.right <= box.w + 1, `${what}: ${sel} is outside the viewport ${JSON.stringify(box)}`);
  }
}

/**
 * At every size: no page scroll, the essential elements in view, a screenshot kept
 * (`test-results/<name>-<w>x<h>.png`). Leaves the page at its first size.
 */
export async function layout(page, name, essentials) {
  const original = page.viewportSize();
  for (const size of SIZES) {
    await page.setViewportSize(size);
    // Let layout settle (fonts, a resize observer) before measuring.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await shot(page, `${name}-${size.width}x${size.height}`);
    await fits(page, `${name} at ${size.width}x${size.height}`);
    await inView(page, essentials, `${name} at ${size.width}x${size.height}`);
  }
  await page.setViewportSize(original);
}

/** No English words in a zh-CN page's visible text (error messages included). */
export async function noEnglish(page, what) {
  const text = await page.evaluate(() => document.body.innerText);
  const words = (text.match(/[A-Za-z]{3,}/g) ?? []).filter((w) => !["Yishi", "English"].includes(w));
  assert.deepEqual(words, [], `${what}: English text on a zh-CN screen`);
}

/** axe-core in the normal, large-text and high-contrast modes. */
export async function accessibleInEveryMode(page, what) {
  await accessible(page, what);
  for (const mode of ["large", "contrast"]) {
    await setMode(page, mode, true);
    await accessible(page, `${what} (mode-${mode})`, { enhanced: mode === "contrast" });
    await setMode(page, mode, false);
  }
}

/**
 * Turn a display mode ("large" or "contrast") on or off with its switch (`dispatch`: its
 * click event sent directly, for a switch under a dialog's backdrop), and wait until the
 * page shows it: the root's class follows the switch after the render, not with it.
 */
export async function setMode(page, mode, on, { dispatch = false } = {}) {
  const button = page.getByTestId(`mode-${mode}`);
  await (dispatch ? button.dispatchEvent("click") : button.click());
  await page.locator(on ? `html.${mode}` : `html:not(.${mode})`).waitFor({ state: "attached" });
}

/** In the large mode: text at least 18 px (body 24 px) and visible targets at least 60×60 px. */
export async function largeModeHolds(page, what) {
  const bad = await page.evaluate(() => {
    const out = [];
    if (parseFloat(getComputedStyle(document.documentElement).fontSize) < 24) out.push("root font below 24px");
    for (const el of document.querySelectorAll("button, [role=tab], select, input:not([type=checkbox]):not([type=radio])")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || el.closest(".sr")) continue;
      if (r.width < 59.5 || r.height < 59.5) out.push(`${el.tagName} "${(el.textContent || el.getAttribute("aria-label") || "").trim().slice(0, 20)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const el = walker.currentNode.parentElement;
      if (!walker.currentNode.textContent.trim() || !el || el.closest(".sr") || el.getClientRects().length === 0) continue;
      const size = parseFloat(getComputedStyle(el).fontSize);
      if (size < 18) out.push(`text "${walker.currentNode.textContent.trim().slice(0, 20)}" at ${size}px`);
    }
    return out;
  });
  assert.deepEqual(bad, [], `${what}: the large mode falls short`);
}

// ----- the console's 码上议事 screens (boardstaff and journey tests) -----

const LAPTOP = { width: 1366, height: 768 };
const PHONE = { width: 360, height: 740 };

/**
 * A console screen as it stands, at 1366×768 and 360×740 and in both modes: no sideways
 * scroll, no English, axe-core (7:1 in high contrast), a full-page screenshot of each in
 * `test-results/<file>-<w>x<h>.png` and `<file>-contrast-<w>x<h>.png`. With `modal`, the
 * high-contrast switch behind a modal dialog gets its click event directly.
 */
export async function lookAtConsole(p, file, what, { modal = false } = {}) {
  const toggle = () => (modal ? p.getByTestId("c-contrast").dispatchEvent("click") : p.getByTestId("c-contrast").click());
  for (const size of [LAPTOP, PHONE]) {
    await p.setViewportSize(size);
    await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${what} scrolls sideways at ${size.width}`);
    await noEnglish(p, what);
    await accessible(p, `${what} at ${size.width}`);
    await p.screenshot({ path: join(shots, `${file}-${size.width}x${size.height}.png`), fullPage: true });
    await toggle();
    await p.locator("html.contrast").waitFor({ state: "attached" });
    await accessible(p, `${what} at ${size.width} in high contrast`, { enhanced: true });
    await p.screenshot({ path: join(shots, `${file}-contrast-${size.width}x${size.height}.png`), fullPage: true });
    await toggle();
    await p.locator("html:not(.contrast)").waitFor({ state: "attached" });
  }
  await p.setViewportSize(LAPTOP);
}

/** The board desk's status line says `text` (each act's result stays until the next); if
 * not, the screen as it was is kept in `test-results/<failed>.png`. */
export async function boardSaid(p, text, failed) {
  try {
    await p.getByTestId("bd-status").filter({ hasText: text }).waitFor();
  } catch (e) {
    await p.screenshot({ path: join(shots, `${failed}.png`), fullPage: true });
    throw e;
  }
}

/** The console's dialog that asks for a text, answered. */
export async function answerAsk(p, text) {
  const ask = p.getByTestId("ask");
  await ask.getByTestId("ask-text").fill(text);
  await ask.getByTestId("ask-ok").click();
  await ask.waitFor({ state: "detached" });
}
