// End to end in a real browser: the real `yishi` binary, Debian's Chromium driven by
// playwright-core, and a consultation run through the UI by a host, two members (one on
// a phone, behind a proxy that can cut its network), a venue's projector and an
// audience member on a phone. At every state (waiting, in session, voting, paused,
// closed) each meeting view fits the window at 1366×768, 1280×800, 1920×1080 and
// 360×740 with what matters in view; the prompts come; axe-core finds nothing serious.
// Screenshots go to test-results/ (not committed).
//
// Run: `npm run e2e` (after `make web` and `cargo build`); YISHI_BIN overrides the binary.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { accessible, accessibleInEveryMode, fits, inView, largeModeHolds, layout, noEnglish, setMode, shot, startYishi } from "./harness.mjs";

let env;
/** The people of the meeting, opened once and shared by the tests in order. */
let host, m1, m2, viewer, projector;

before(async () => {
  // Fake devices: members publish in the waiting room (the device check) and in session.
  env = await startYishi({ chromiumArgs: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"] });
  const { link, open, viaProxy } = env;
  host = await open(link("host", "王主席", "host"), "host");
  m1 = await open(link("member", "张委员", "m1", ["--sector", "经济界", "--venue", "主会场"]), "m1");
  // m2 reaches the server through the proxy, so its connection can be cut.
  m2 = await open(viaProxy(link("member", "李委员", "m2", ["--sector", "教育界", "--venue", "东区分会场"])), "m2", { width: 360, height: 740 });
  viewer = await open(link("audience", null, null), "audience", { width: 360, height: 740 });
  projector = await open(link("venue", "东区分会场大屏", "v1-screen", ["--grants", "join"]) + "&screen=projector", "projector", { width: 1920, height: 1080 });
});

after(async () => {
  await env?.stop();
});

const MEMBER_VIEW = ["[data-testid=stage]", "[data-testid=controlbar]", "[data-testid=side-panel] [role=tablist]"];

test("before the session opens: a waiting room on every screen, the host's start on the first screen", async () => {
  await host.page.getByTestId("open-check-in").click();
  await m1.page.getByTestId("waiting-room").getByText("签到中").waitFor();
  await m1.page.getByTestId("check-in").click();
  await m1.page.getByTestId("checked-in").waitFor();
  await layout(host.page, "waiting-host", [...MEMBER_VIEW, "[data-testid=waiting-room]", "[data-testid=start-session]"]);
  await layout(m1.page, "waiting-member", [...MEMBER_VIEW, "[data-testid=waiting-room]", "[data-testid=live-state]"]);
  await layout(m2.page, "waiting-member-phone", [...MEMBER_VIEW, "[data-testid=check-in]"]);
  await layout(viewer.page, "waiting-audience", ["[data-testid=waiting-room]", "[data-testid=controlbar]"]);
  await noEnglish(m1.page, "the member's waiting room");
  for (const p of [host, m1, viewer]) await accessibleInEveryMode(p.page, `${p.name}'s waiting room`);
  await m2.page.getByTestId("check-in").click();
  await m2.page.getByTestId("checked-in").waitFor();
});

test("in session: the floor is given, the speaker is told and sees the countdown; warning and hard stop come to them", async () => {
  const H = host.page;
  await H.getByTestId("start-session").click();
  await m1.page.getByTestId("session-badge").filter({ hasText: "进行中" }).waitFor();

  // A first turn with the default limit, to look at every screen while someone speaks.
  await m1.page.getByTestId("raise-impromptu").click();
  await m1.page.getByTestId("my-place").filter({ hasText: "1" }).waitFor();
  await H.getByTestId("queue").getByText("张委员").waitFor();
  await H.getByTestId("grant-next").click();
  for (const p of [m1.page, m2.page, viewer.page, H]) await p.getByTestId("speaker").filter({ hasText: "张委员" }).waitFor();
  // The prompt, in view, and the live state in the control bar.
  await m1.page.getByTestId("notice-floor_given").waitFor();
  await m1.page.getByTestId("live-state").filter({ hasText: "您正在发言" }).waitFor({ timeout: 20_000 });
  await layout(m1.page, "live-speaker", [...MEMBER_VIEW, "[data-testid=speaker]", "[data-testid=timer]", "[data-testid=notice-floor_given]", "[data-testid=live-state]", "[data-testid=end-my-turn]"]);
  await layout(m2.page, "live-member", [...MEMBER_VIEW, "[data-testid=speaker]", "[data-testid=timer]", "[data-testid=raise-impromptu]"]);
  await layout(H, "live-host", [...MEMBER_VIEW, "[data-testid=speaker]", "[data-testid=timer]", "[data-testid=end-turn]", "[data-testid=grant-next]"]);
  await layout(viewer.page, "live-audience", ["[data-testid=stage]", "[data-testid=speaker]", "[data-testid=timer]", "[data-testid=controlbar]"]);
  for (const p of [host, m1, m2, viewer]) await accessible(p.page, `${p.name} in session`);
  await m1.page.getByTestId("end-my-turn").click();
  await m1.page.getByTestId("no-speaker").waitFor();

  // Short limits: 12 s impromptu, warning 6 s before, hard stop.
  await H.getByTestId("open-settings").click();
  await H.getByTestId("limit").fill("12");
  await H.getByTestId("warning").fill("6");
  await H.getByTestId("hard").check();
  await H.getByTestId("save-settings").click();
  await H.getByTestId("settings-saved").waitFor();
  await H.getByTestId("settings").getByRole("button", { name: "关闭" }).first().click();
  await m1.page.getByTestId("raise-impromptu").click();
  await H.getByTestId("queue").getByText("张委员").waitFor();
  await H.getByTestId("grant-next").click();
  await m2.page.getByTestId("speaker").filter({ hasText: "张委员" }).waitFor();
  const t1 = await m2.page.getByTestId("timer").textContent();
  assert.match(t1, /^0:1[0-2]$/);
  // The warning, then the hard stop, told to the speaker where they look.
  await m1.page.getByTestId("notice-time_warning").waitFor({ timeout: 20_000 });
  await inView(m1.page, ["[data-testid=notice-time_warning]"], "the warning");
  await m1.page.getByTestId("notice-time_up").waitFor({ timeout: 20_000 });
  await inView(m1.page, ["[data-testid=notice-time_up]"], "the hard stop");
  await viewer.page.getByTestId("no-speaker").waitFor();
  // The live text feed (图文直播) tells it in words.
  await viewer.page.getByTestId("live-text").getByText("张委员的发言时间到，已收回发言权").waitFor();
});

test("a vote: the ballot comes to the front on every eligible screen; the binding one asks for review and says it was recorded", async () => {
  const H = host.page;
  await H.getByTestId("open-poll-builder").click();
  await H.getByTestId("poll-question").fill("是否同意增设社区助餐点？");
  await H.getByTestId("poll-advisory").check();
  await H.getByTestId("poll-deadline").fill("300");
  await H.getByTestId("create-poll").click();
  for (const p of [m1, m2, viewer]) {
    await p.page.getByTestId("ballot").waitFor();
    await layout(p.page, `ballot-${p.name}`, ["[data-testid=ballot]", "[data-testid=ballot-question]", "[data-testid=ballot-deadline]"]);
    await accessible(p.page, `${p.name}'s ballot`);
  }
  // Binding: choose, review, confirm, recorded.
  await m1.page.getByTestId("ballot").getByText("赞成").click();
  await m1.page.getByTestId("ballot-next").click();
  await m1.page.getByTestId("ballot-review").getByText("您选择了：赞成").waitFor();
  await shot(m1.page, "ballot-review");
  await m1.page.getByTestId("ballot-confirm").click();
  // A secret ballot is recorded once sealed with others (here: at the close).
  await m1.page.getByTestId("ballot-sealing").waitFor();
  await m2.page.getByTestId("ballot").getByText("赞成").click();
  await m2.page.getByTestId("ballot-next").click();
  await m2.page.getByTestId("ballot-confirm").click();
  await m2.page.getByTestId("ballot-sealing").waitFor();
  await m2.page.getByTestId("ballot").getByRole("button", { name: "关闭" }).last().click();
  // Advisory: one step.
  await viewer.page.getByTestId("ballot").getByText("反对").click();
  await viewer.page.getByTestId("ballot-submit").click();
  await viewer.page.getByTestId("ballot-sealing").waitFor();
  await viewer.page.getByTestId("ballot").getByRole("button", { name: "关闭" }).last().click();
  await H.getByTestId("tab-polls").click();
  await H.getByTestId("poll-1").filter({ hasText: "委员已投 2 票" }).waitFor({ timeout: 10_000 });
  await H.getByTestId("close-poll").click();
  // The close seals the last ballots: m1's dialog, still open, now says it was recorded.
  await m1.page.getByTestId("ballot-recorded").waitFor();
  await m1.page.getByTestId("ballot").getByRole("button", { name: "关闭" }).last().click();
  await m2.page.getByTestId("tab-polls").click();
  await m2.page.getByTestId("poll-1").getByTestId("outcome").filter({ hasText: "通过" }).waitFor();
  await viewer.page.getByTestId("tab-polls").click();
  await viewer.page.getByTestId("poll-1").getByTestId("results").waitFor();
  await shot(m2.page, "results-member-phone");
  // The projector shows the latest result as a chart.
  await projector.page.locator(".pj-result [data-testid=results]").waitFor();
});

test("moderation: an approved question reaches everyone, a rejected comment tells its author why", async () => {
  const V = viewer.page;
  const H = host.page;
  await V.getByTestId("tab-questions").click();
  await V.getByTestId("ask").getByRole("textbox").fill("助餐点由谁运营？");
  await V.getByTestId("ask").getByRole("button", { name: "提问" }).click();
  await V.getByText("待审核：目前仅您和主持人可见").waitFor();
  assert.equal(await m1.page.getByText("助餐点由谁运营？").count(), 0, "members do not see a pending question");
  await V.getByTestId("tab-comments").click();
  await V.getByTestId("comment").getByRole("textbox").fill("加微信领红包");
  await V.getByTestId("comment").getByRole("button", { name: "发表" }).click();
  await H.getByTestId("open-moderation").click();
  await H.getByTestId("moderation-list").getByText("助餐点由谁运营？").waitFor();
  await H.getByTestId("moderation-list").getByTestId("approve").first().click();
  await H.getByTestId("moderation").locator("select").selectOption("advertising");
  await H.getByTestId("moderation-list").getByText("加微信领红包").waitFor();
  await H.getByTestId("moderation-list").getByTestId("reject").first().click();
  await H.getByTestId("moderation-list").getByText("加微信领红包").waitFor({ state: "detached" });
  await H.getByTestId("moderation").getByRole("button", { name: "关闭" }).first().click();
  await V.getByTestId("notice-question_approved").waitFor();
  await V.getByTestId("notice-comment_rejected").filter({ hasText: "广告" }).waitFor();
  await inView(V, ["[data-testid=notice-comment_rejected]"], "the moderation result");
  await V.getByTestId("comments").getByTestId("rejected-note").filter({ hasText: "未通过审核（原因：广告）" }).waitFor();
  await m1.page.getByTestId("tab-questions").click();
  await m1.page.getByTestId("questions").getByText("助餐点由谁运营？").waitFor();
  await shot(V, "moderation-audience");
});

test("paused: a banner on every screen; a dropped connection comes back and sends what was pending", async () => {
  const H = host.page;
  await H.getByTestId("pause-session").click();
  for (const p of [m1, m2, viewer]) await p.page.getByTestId("paused-banner").waitFor();
  await m1.page.getByTestId("notice-paused").waitFor();
  await layout(m1.page, "paused-member", [...MEMBER_VIEW, "[data-testid=paused-banner]"]);
  await H.getByTestId("resume-session").click();
  await m1.page.getByTestId("paused-banner").waitFor({ state: "detached" });

  env.proxy.cut();
  await m2.page.getByTestId("banner").filter({ hasText: "正在重新连接" }).waitFor({ timeout: 20_000 });
  await shot(m2.page, "member-reconnecting");
  // Asked for while disconnected: sent once the connection is back, with its request id.
  await m2.page.getByTestId("raise-interjection").click();
  env.proxy.restore();
  await H.getByTestId("tab-queue").click();
  await H.getByTestId("queue").getByText("李委员").waitFor({ timeout: 30_000 });
  await m2.page.getByTestId("banner").waitFor({ state: "detached", timeout: 10_000 });
  await m2.page.getByTestId("withdraw-interjection").waitFor();
});

test("the chair's queue: the offline warning before a grant; errors next to their control, in Chinese", async () => {
  const H = host.page;
  // An invalid limit: the server's refusal shows under the form, in zh-CN.
  await H.getByTestId("open-settings").click();
  await H.getByTestId("warning").fill("90000");
  await H.getByTestId("save-settings").click();
  await H.getByTestId("settings").getByTestId("error-settings").filter({ hasText: "填写的内容不符合要求" }).waitFor();
  await noEnglish(H, "the host's settings with an error");
  await H.getByTestId("settings").getByRole("button", { name: "关闭" }).first().click();
  // m2 waits (interjection); m2 goes offline: granting warns first.
  env.proxy.cut();
  await H.getByTestId("tab-attendance").click();
  await H.getByTestId("attendance-panel").locator("tr", { hasText: "李委员" }).getByText("离线").waitFor({ timeout: 30_000 });
  await H.getByTestId("tab-queue").click();
  await H.getByTestId("queue-entry").filter({ hasText: "李委员" }).getByTestId("grant").click();
  await H.getByTestId("confirm").getByText("李委员目前不在线").waitFor();
  await shot(H, "grant-offline-warning");
  await H.getByTestId("confirm-cancel").click();
  env.proxy.restore();
  await m2.page.getByTestId("banner").waitFor({ state: "detached", timeout: 30_000 });
});

test("the projector fills the hall's screen: no scroll, the name on one line, the countdown, the next three", async () => {
  const P = projector.page;
  await m1.page.getByTestId("raise-impromptu").click();
  await host.page.getByTestId("queue-entry").filter({ hasText: "张委员" }).getByTestId("grant").click();
  await P.getByTestId("speaker").filter({ hasText: "张委员" }).waitFor();
  for (const size of [{ width: 1920, height: 1080 }, { width: 1280, height: 720 }]) {
    await P.setViewportSize(size);
    await P.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await shot(P, `projector-${size.width}x${size.height}`);
    await fits(P, `the projector at ${size.width}x${size.height}`);
    await inView(P, ["[data-testid=speaker]", "[data-testid=timer]", "[data-testid=queue]", "[data-testid=fullscreen]"], `the projector at ${size.width}x${size.height}`);
    const oneLine = await P.getByTestId("speaker").evaluate((el) => el.scrollWidth <= el.clientWidth + 1);
    assert.ok(oneLine, "the speaker's name fits on one line");
  }
  assert.equal(await P.locator("button").count(), 1, "the projector has no controls but full screen");
  await accessible(P, "the projector");
});

test("large text, high contrast and English", async () => {
  const M = m2.page;
  await setMode(M, "large", true);
  assert.equal(await M.getByTestId("mode-large").getAttribute("aria-pressed"), "true");
  await shot(M, "member-phone-large");
  await fits(M, "the phone in large mode");
  await largeModeHolds(M, "the member's phone in large mode");
  await shot(M, "member-phone-large");
  await setMode(M, "large", false);
  await setMode(M, "contrast", true);
  await shot(M, "member-phone-contrast");
  await accessible(M, "the member in high contrast", { enhanced: true });
  await setMode(M, "contrast", false);

  const E = m1.page;
  await E.getByTestId("mode-lang").click();
  await E.getByTestId("tab-queue").filter({ hasText: "Queue" }).waitFor();
  await E.getByTestId("live-state").filter({ hasText: /live|heard|off/ }).waitFor();
  const bar = await E.getByTestId("controlbar").innerText();
  assert.doesNotMatch(bar, /[\u3400-\u9fff\uff08\uff09\uff1a]/, `the control bar is English throughout: ${bar}`);
  await E.getByTestId("tab-attendance").click();
  await E.getByTestId("attendance-panel").getByText(/present/).first().waitFor();
  await E.getByTestId("attendance-panel").getByText("(you)").waitFor();
  await shot(E, "member-english");
  await E.getByTestId("mode-lang").click();
});

test("closed: every screen shows the end, nothing can be sent, a late joiner sees it too; the record verifies", async () => {
  const H = host.page;
  await H.getByTestId("close-session").click();
  await H.getByTestId("confirm").getByText("确定结束会议吗").waitFor();
  await H.getByTestId("confirm-ok").click();
  for (const p of [host, m1, m2, viewer, projector]) {
    if (p === projector) continue;
    await p.page.getByTestId("closed-screen").waitFor();
    assert.equal(await p.page.getByRole("textbox").count(), 0, `${p.name}: nothing to type into`);
  }
  await layout(m1.page, "closed-member", ["[data-testid=closed-screen] [data-testid=session-state]"]);
  await shot(viewer.page, "closed-audience");
  const late = await env.open(env.link("member", "赵委员", "m9"), "late", undefined, { audit: false });
  await late.page.getByTestId("closed-screen").waitFor();
  assert.equal(await late.page.getByTestId("meeting").count(), 0, "the late joiner sees no live room");
  await late.context.close();

  const [download] = await Promise.all([H.waitForEvent("download"), H.getByTestId("export").click()]);
  const file = join(env.dir, "record.jsonl");
  await download.saveAs(file);
  assert.match(env.yishi("record", "verify", file), /^ok: \d+ entries/);
});
