// End to end in a real browser: the real `yishi` binary, Debian's Chromium driven by
// playwright-core, and four people in separate browser contexts (a host, two members and
// an audience member) running a consultation through the UI.
//
// Run: `npm run e2e` (after `make web` and `cargo build`); YISHI_BIN overrides the binary.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { accessible, shot, startYishi } from "./harness.mjs";

let yishi;
let link;
let open;
let proxy;
let dir;
let env;

before(async () => {
  env = await startYishi();
  ({ yishi, link, open, proxy, dir } = env);
});

after(async () => {
  await env?.stop();
});

test("a consultation runs through the UI: check-in, hand raise, grant, warning, hard stop, a poll, moderated questions, resume", async () => {
  const host = await open(link("host", "主持人", "host"), "host");
  const m1 = await open(link("member", "张委员", "m1", ["--sector", "经济界"]), "m1");
  // m2 reaches the server through the proxy, so its connection can be cut.
  const m2Link = env.viaProxy(link("member", "李委员", "m2", ["--sector", "教育界"]));
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
