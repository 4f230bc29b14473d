// End to end in a real browser: the real `yishi` binary, Debian's Chromium driven by
// playwright-core, and four people in separate browser contexts (a host, two members and
// an audience member) running a consultation through the UI.
//
// Run: `npm run e2e` (after `make web` and `cargo build`); YISHI_BIN overrides the binary.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.YISHI_BIN ?? resolve(here, "../../target/debug/yishi");
const shots = resolve(here, "../test-results");
const axePath = resolve(here, "../node_modules/axe-core/axe.min.js");
mkdirSync(shots, { recursive: true });

const dir = mkdtempSync(join(tmpdir(), "yishi-e2e-"));
const env = {
  ...process.env,
  YISHI_DATABASE: `sqlite://${join(dir, "yishi.db")}`,
  YISHI_DATA_DIR: dir,
  YISHI_TOKEN_KEYS: "e2e:e2e-secret-key-0123456789",
  YISHI_ADMIN_KEY: "e2e-admin-key-0123456789",
  RUST_LOG: "warn",
};

let server;
let browser;
let base;
let proxy;

/**
 * A TCP proxy in front of the server for one member's browser, so the test can cut that
 * member's network for real (Chromium's offline mode leaves open WebSockets alone).
 */
function startProxy(targetPort) {
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

function yishi(...args) {
  return execFileSync(bin, args, { env: { ...env, YISHI_PUBLIC_URL: base }, encoding: "utf8" }).trim();
}

function link(role, name, id, extra = []) {
  const args = ["token", "--room", "e2e", "--role", role, "--ttl", "1h"];
  if (name) args.push("--name", name);
  if (id) args.push("--id", id);
  return yishi(...args, ...extra);
}

before(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  yishi("room", "create", "--id", "e2e", "--title", "浏览器测试协商会");
  proxy = await startProxy(port);
  const origins = `${base},http://127.0.0.1:${proxy.port}`;
  server = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`], {
    env: { ...env, YISHI_PUBLIC_URL: base, YISHI_ALLOWED_ORIGINS: origins },
    stdio: "inherit",
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  proxy?.close();
  server?.kill("SIGTERM");
});

async function open(url, name, viewport = { width: 1280, height: 900 }) {
  // bypassCSP only so axe-core can be injected for the audit; the CSP itself is checked by the server tests.
  const context = await browser.newContext({ viewport, locale: "zh-CN", bypassCSP: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(url);
  // The join screen: who the link is for, then in.
  await page.getByTestId("join-name").waitFor();
  await shot(page, `join-${name}`);
  await accessible(page, `${name}'s join screen`);
  await page.getByRole("button", { name: "进入会议" }).click();
  await page.locator(".floor").waitFor();
  return { context, page, name };
}

/** No serious or critical accessibility violations (axe-core). */
async function accessible(page, what) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.length})`),
    [],
    `${what} has serious accessibility violations`,
  );
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test("a consultation runs through the UI: check-in, hand raise, grant, warning, hard stop, a poll, moderated questions, resume", async () => {
  const host = await open(link("host", "主持人", "host"), "host");
  const m1 = await open(link("member", "张委员", "m1", ["--sector", "经济界"]), "m1");
  // m2 reaches the server through the proxy, so its connection can be cut.
  const m2Link = link("member", "李委员", "m2", ["--sector", "教育界"]).replace(base, `http://127.0.0.1:${proxy.port}`);
  const m2 = await open(m2Link, "m2", { width: 360, height: 800 });
  const viewer = await open(link("audience", null, null), "audience", { width: 390, height: 844 });
  const H = host.page;
  await viewer.page.getByTestId("viewers").filter({ hasText: "观看人数: 1" }).waitFor();
  await H.getByTestId("viewers").filter({ hasText: "观看人数: 1" }).waitFor();

  // Check-in and start.
  await H.getByRole("button", { name: "开始签到" }).click();
  await m1.page.getByRole("button", { name: "签到" }).click();
  await m2.page.getByRole("button", { name: "签到" }).click();
  await m1.page.getByRole("status").filter({ hasText: "已签到" }).waitFor();
  await H.getByRole("button", { name: "开始会议" }).click();
  await m1.page.getByTestId("session-state").filter({ hasText: "进行中" }).waitFor();

  // Short limits: 12 s impromptu, warning 6 s before, hard stop.
  await H.getByTestId("limit").fill("12");
  await H.getByTestId("warning").fill("6");
  await H.getByTestId("hard").check();
  await H.getByRole("button", { name: "保存" }).click();

  // A hand raise, the grant, the countdown on every screen.
  await m1.page.getByRole("button", { name: "即席发言" }).click();
  await m1.page.getByTestId("my-place").filter({ hasText: "1" }).waitFor();
  await H.getByTestId("queue").getByText("张委员").waitFor();
  await H.getByRole("button", { name: "请下一位发言" }).click();
  for (const p of [m1.page, m2.page, viewer.page, H]) {
    await p.getByTestId("speaker").filter({ hasText: "张委员" }).waitFor();
  }
  await shot(m1.page, "member");
  await shot(m2.page, "member-360px");
  await shot(H, "host-console");
  const t1 = await m2.page.getByTestId("timer").textContent();
  assert.match(t1, /^0:1[0-2]$/);
  // The warning: the timer turns to warning, and screen readers are told.
  await m2.page.locator(".timer.warn").waitFor({ timeout: 15_000 });
  await m2.page.getByTestId("announce").filter({ hasText: "即将结束" }).waitFor({ timeout: 5_000 });
  // The hard stop: the floor is taken back by the server.
  await m1.page.locator(".floor").getByText("目前无人发言").waitFor({ timeout: 15_000 });
  await viewer.page.locator(".floor").getByText("目前无人发言").waitFor();
  // The live text stream (图文直播) tells it in words.
  await viewer.page.getByTestId("live-text").getByText("发言时间到，已收回发言权").waitFor();

  // A poll: binding and advisory, results after close.
  await H.getByTestId("poll-question").fill("是否同意增设社区助餐点？");
  await H.getByText("观众意见").click();
  await H.getByRole("button", { name: "发起表决" }).click();
  await H.getByRole("button", { name: "开始投票" }).click();
  await m1.page.getByTestId("poll-1").getByRole("button", { name: "赞成" }).click();
  await m2.page.getByTestId("poll-1").getByRole("button", { name: "赞成" }).click();
  await viewer.page.getByTestId("poll-1").getByRole("button", { name: "反对" }).click();
  await m1.page.getByText("已投票，选票已确认").waitFor();
  await H.getByTestId("host-poll-1").filter({ hasText: "已投票人数: 3" }).waitFor({ timeout: 5_000 });
  await H.getByRole("button", { name: "结束投票" }).click();
  await m2.page.getByTestId("results").filter({ hasText: "通过" }).waitFor();
  await viewer.page.getByTestId("results").waitFor();
  await shot(viewer.page, "audience");

  // A question from the audience, approved by the host, appears for everyone.
  await viewer.page.getByRole("textbox", { name: "提问" }).fill("助餐点由谁运营？");
  await viewer.page.getByRole("button", { name: "提问" }).click();
  await viewer.page.getByText("待审核，仅您和主持人可见").waitFor();
  assert.equal(await m1.page.getByText("助餐点由谁运营？").count(), 0, "members do not see a pending question");
  await H.getByTestId("moderation").getByRole("button", { name: "通过" }).click();
  await m1.page.getByTestId("questions").getByText("助餐点由谁运营？").waitFor();
  await viewer.page.getByText("待审核，仅您和主持人可见").waitFor({ state: "detached" });

  // A dropped connection: the banner shows, the page recovers without a reload, and
  // what happened meanwhile arrives.
  proxy.cut();
  await m2.page.getByTestId("banner").filter({ hasText: "正在重新连接" }).waitFor({ timeout: 20_000 });
  await shot(m2.page, "member-reconnecting");
  await m1.page.getByRole("button", { name: "插话" }).click();
  proxy.restore();
  await m2.page.getByTestId("queue").getByText("张委员").waitFor({ timeout: 30_000 });
  await m2.page.getByTestId("banner").waitFor({ state: "detached", timeout: 10_000 });

  // Accessibility and the projector.
  for (const { page, name } of [host, m1, m2, viewer]) await accessible(page, name);
  const projector = await open(link("venue", "东区分会场", "v1") + "&screen=projector", "projector", { width: 1920, height: 1080 });
  await projector.page.getByTestId("queue").waitFor();
  await shot(projector.page, "projector");
  await accessible(projector.page, "projector");

  // Large text and English.
  await m1.page.getByRole("button", { name: "大字模式" }).click();
  const size = await m1.page.evaluate(() => getComputedStyle(document.documentElement).fontSize);
  assert.equal(size, "24px");
  await m1.page.getByRole("button", { name: "English" }).click();
  await m1.page.getByRole("heading", { name: "Speaking queue" }).waitFor();
  await shot(m1.page, "member-large-english");

  // The host closes the session and exports the record, which verifies.
  H.on("dialog", (d) => d.accept());
  await H.getByRole("button", { name: "结束会议" }).click();
  await m2.page.getByTestId("session-state").filter({ hasText: "已结束" }).waitFor();
  const [download] = await Promise.all([H.waitForEvent("download"), H.getByTestId("export").click()]);
  const file = join(dir, "record.jsonl");
  await download.saveAs(file);
  const verdict = yishi("record", "verify", file);
  assert.match(verdict, /^ok: \d+ entries/);
});
