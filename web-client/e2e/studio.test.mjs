// Members' studios (委员网上工作室) on the public board in Chromium: a clerk opens a roster
// member's studio in the console (its photo chosen from the computer, made smaller and
// uploaded; reply deadline 1 day) and edits it; a resident on a 360×740 phone finds it from the
// board's home, leaves two messages (the name sheet first, "提交后经审核公开" on the form),
// another resident leaves a third; staff publish them; the member, signed in with a token
// of the committee's platform, replies to the first privately and to the second publicly
// from the studio's inbox; the sender sees the private reply and was told, nobody else
// sees it; the third is unanswered and, as of three days later, in the console's overdue
// list. Then duty slots (会客时间) and 社情民意: a clerk schedules office hours starting now
// in the console; the resident's studio page shows 进行中 and 进入会客室, which opens the
// meeting client as audience, where the resident asks a question; the member's inbox
// shows 主持会客, which opens the host view, where the question is approved and reaches the
// resident; the clerk files the resident's message as a 社情民意 item, listed in the
// console, and the resident's notices say so. axe-core on each screen, no sideways
// scroll, no English on zh-CN pages, screenshots at 360×740 and 1366×768 in
// test-results/studio-*.png.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { accessible, mint, noEnglish, shots, startYishi } from "./harness.mjs";

const PHONE = { width: 360, height: 740 };
const LAPTOP = { width: 1366, height: 768 };
const ADMIN = "e2e-admin-key-0123456789";
const PRIVATE = "请把楼号和联系电话发给我，我周末去现场看看。";
const PUBLIC = "已向区住建局反映，老楼加装电梯可申请补贴，详见街道公告。";

let env;
/** What the first test leaves for the second: the studio, its pages and messages. */
let shared;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

async function admin(method, path, body, type = "application/json") {
  const r = await fetch(`${env.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { "content-type": type }) },
    body: body === undefined ? undefined : type === "application/json" ? JSON.stringify(body) : body,
  });
  const answer = await r.json();
  assert.equal(r.status, 200, `${method} ${path} → ${JSON.stringify(answer)}`);
  return answer;
}

const staffCommand = (command) => admin("POST", "/api/v1/board/staff/commands", command);

async function browserAt(url, viewport = PHONE, name = "visitor") {
  const context = await env.browser.newContext({ viewport, locale: "zh-CN", bypassCSP: true, hasTouch: viewport.width < 500 });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(url);
  return page;
}

/** axe-core, no sideways scroll, no English, a full-page screenshot. */
async function check(p, name, what, { english = false } = {}) {
  await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${what}: the page scrolls sideways`);
  if (!english) await noEnglish(p, what);
  await accessible(p, what);
  const size = p.viewportSize();
  await p.screenshot({ path: join(shots, `studio-${name}-${size.width}x${size.height}.png`), fullPage: true });
}

async function both(p, name, what, options) {
  await check(p, name, what, options);
  const size = p.viewportSize();
  await p.setViewportSize(size.width === PHONE.width ? LAPTOP : PHONE);
  await check(p, name, what, options);
  await p.setViewportSize(size);
}

async function giveName(p, name) {
  await p.getByTestId("name-prompt").waitFor();
  await p.getByTestId("id-name").fill(name);
  await p.getByTestId("id-ok").click();
  await p.getByTestId("name-prompt").waitFor({ state: "detached" });
}

async function leaveMessage(p, title, text) {
  await p.getByTestId("msg-title").fill(title);
  await p.getByTestId("msg-text").fill(text);
  await p.getByTestId("msg-send").click();
}

test("a resident leaves messages, the member replies privately and publicly, a missed deadline shows to staff", async () => {
  // The roster member and their studio (deadline: 1 day).
  await admin("POST", "/api/v1/roster/import?filename=members.csv", "委员编号,姓名,界别\n2024001,张建国,经济界\n", "application/octet-stream");
  const member = (await admin("GET", "/api/v1/roster")).members.find((m) => m.name === "张建国").id;
  // A clerk opens the studio in the console with a photo chosen from the computer (a
  // 1200×1600 portrait the browser makes smaller before upload), then edits its topics.
  const clerk = await env.staff("clerk", "clerk");
  await clerk.getByTestId("tab-studios").click();
  await clerk.getByTestId("studios-none").waitFor();
  const editor = clerk.getByTestId("studio-form");
  await editor.getByTestId("studio-member").selectOption(String(member));
  assert.equal(await editor.getByTestId("studio-name").inputValue(), "张建国", "the name from the roster");
  assert.equal(await editor.getByTestId("studio-sector").inputValue(), "经济界", "the sector from the roster");
  const portrait = await clerk.evaluate(() => {
    const c = document.createElement("canvas");
    c.width = 1200;
    c.height = 1600;
    const g = c.getContext("2d");
    g.fillStyle = "#b91c1c";
    g.fillRect(0, 0, 1200, 1600);
    g.fillStyle = "#fff";
    g.font = "700 700px sans-serif";
    g.fillText("张", 250, 1050);
    return c.toDataURL("image/png").split(",")[1];
  });
  await editor.getByTestId("studio-photo").setInputFiles({ name: "张建国.png", mimeType: "image/png", buffer: Buffer.from(portrait, "base64") });
  await editor.getByTestId("studio-photo-preview").waitFor();
  const photo = await editor.getByTestId("studio-photo-preview").getAttribute("src");
  assert.match(photo, /^\/api\/v1\/board\/photos\/[0-9a-f]{64}$/);
  const stored = await (await fetch(`${env.base}${photo}`)).arrayBuffer();
  assert.ok(stored.byteLength < 200_000, `made smaller: ${stored.byteLength} bytes`);
  await editor.getByTestId("studio-interests").fill("养老服务、老旧小区改造");
  await editor.getByTestId("studio-days").fill("1");
  await editor.getByTestId("studio-save").click();
  await clerk.getByTestId("studio-status").filter({ hasText: "已开设：张建国的工作室" }).waitFor();
  // The studio's own page (with its deadline) cannot be had: the form is not left open
  // with a default deadline that saving would write over the studio's.
  await clerk.route(`**/api/v1/board/studios/${member}`, (route) => route.abort());
  await clerk.getByTestId(`studio-edit-${member}`).click();
  await editor.getByTestId("problem").waitFor();
  await editor.scrollIntoViewIfNeeded();
  await clerk.screenshot({ path: join(shots, "studio-edit-failed-1366x768.png") });
  assert.equal(await editor.getByTestId("studio-save").innerText(), "开设工作室", "not editing");
  assert.equal(await editor.getByTestId("studio-member").inputValue(), "", "the form emptied");
  await clerk.unroute(`**/api/v1/board/studios/${member}`);
  await clerk.getByTestId(`studio-edit-${member}`).click();
  // The form fills at once from the list; the deadline comes with the studio's own page.
  await clerk.waitForFunction(() => document.querySelector('[data-testid="studio-days"]')?.value === "1", null, { timeout: 10_000 }).catch(() => {});
  assert.equal(await editor.getByTestId("studio-days").inputValue(), "1", "the deadline read back");
  await editor.getByTestId("studio-interests").fill("养老服务、老旧小区改造、交通出行");
  await editor.getByTestId("studio-save").click();
  await clerk.getByTestId("studio-status").filter({ hasText: "已保存：张建国的工作室" }).waitFor();
  assert.match(await clerk.getByTestId(`studio-${member}`).innerText(), /张建国[\s\S]*经济界 · 养老服务、老旧小区改造、交通出行/);
  await both(clerk, "console-editor", "the console's studios", { english: true });

  // A resident finds the studio from the board's home.
  const a = await browserAt(`${env.base}/board`, PHONE, "居民甲");
  await a.getByTestId("list").waitFor();
  await a.getByTestId("studios-link").click();
  await a.getByTestId(`studio-${member}`).waitFor();
  await both(a, "list", "the studios");
  await a.getByTestId(`studio-${member}`).click();
  await a.getByTestId("studio").waitFor();
  assert.match(await a.getByTestId("studio").innerText(), /张建国[\s\S]*经济界[\s\S]*老旧小区改造/);
  const shown = a.getByTestId("studio").locator(`img[src="${photo}"]`);
  assert.ok(await shown.evaluate((img) => img.complete && img.naturalWidth > 0 && img.naturalWidth <= 640), "the photo is shown");
  assert.ok(await a.getByTestId("studio-qr").evaluate((img) => img.complete && img.naturalWidth >= 160), "the QR code is drawn");
  assert.match(await a.getByTestId("message-form").innerText(), /提交后经审核公开/);
  await both(a, "page-empty", "an empty studio page");

  // A studio that does not exist says so in words.
  const none = await browserAt(`${env.base}/board#/studio/${member + 100}`, PHONE, "迷路的人");
  assert.match(await none.getByTestId("problem").innerText(), /没有找到这个工作室/);
  await none.context().close();

  // Two messages: the name sheet before the first.
  await leaveMessage(a, "老楼加装电梯", "我们小区是九十年代的老楼，老人上下楼很困难，希望推动加装电梯。");
  await giveName(a, "东城李大爷");
  await a.getByTestId("msg-status").filter({ hasText: "已提交，审核通过后公开" }).waitFor();
  await leaveMessage(a, "公交站台太远", "最近的公交站要走二十分钟，希望增设一个站点。");
  await a.getByTestId("my-messages").getByText("公交站台太远").waitFor();
  assert.equal(await a.getByTestId("my-messages").getByText("审核中").count(), 2);
  assert.equal(await a.getByTestId("messages").locator("li").count(), 0, "nothing public before review");

  // A second resident leaves a third (through the API, with their own identity).
  const r = await fetch(`${env.base}/api/v1/board/identity`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "居民丙" }) });
  const cookie = r.headers.get("set-cookie").split(";")[0];
  const sent = await fetch(`${env.base}/api/v1/board/commands`, {
    method: "POST",
    headers: { cookie, "content-type": "application/json" },
    body: JSON.stringify({ type: "post_message", member, title: "菜市场噪音", text: "早市五点就开始卸货，吵得睡不着。" }),
  });
  assert.equal(sent.status, 200);

  // Staff publish the three.
  const queue = await admin("GET", "/api/v1/board/staff/queue");
  assert.equal(queue.messages.length, 3);
  const id = (title) => queue.messages.find((m) => m.title === title).id;
  const [lift, bus, noise] = [id("老楼加装电梯"), id("公交站台太远"), id("菜市场噪音")];
  for (const message of [lift, bus, noise]) await staffCommand({ type: "moderate_message", message, decision: "publish" });

  // The member, signed in through the committee's platform, replies from the inbox.
  const m = await browserAt(`${env.base}/board`, LAPTOP, "张建国");
  const now = Math.floor(Date.now() / 1000);
  const token = mint({ room: "board", sub: `m-${member}`, name: "张建国", role: "member", exp: now + 3600, iat: now, jti: randomBytes(8).toString("hex") });
  assert.equal(await m.evaluate(async (token) => (await fetch("/api/v1/board/identity", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token }) })).status, token), 200);
  await m.goto(`${env.base}/board#/studio/${member}`);
  await m.getByTestId("inbox").waitFor();
  assert.match(await m.getByTestId(`inbox-${noise}`).innerText(), /请在.*前答复/);
  assert.equal(await m.getByTestId("message-form").count(), 0, "the member does not write to their own studio");
  await both(m, "inbox", "the member's inbox");
  const reply = async (message, text, how) => {
    await m.getByTestId(`reply-open-${message}`).click();
    const form = m.getByTestId(`reply-form-${message}`);
    await form.getByTestId("reply-text").fill(text);
    await form.getByTestId(how).check();
    await form.getByTestId("reply-send").click();
    await m.getByTestId(`inbox-${message}`).getByText(text).waitFor();
  };
  await reply(lift, PRIVATE, "reply-private");
  await reply(bus, PUBLIC, "reply-public");
  await m.getByTestId(`message-${bus}`).getByText(PUBLIC).waitFor();
  await m.getByTestId(`reply-open-${noise}`).click();
  await check(m, "reply-form", "the member's reply form");

  // The sender sees the private reply among their messages; the public page does not.
  await a.reload();
  await a.getByTestId(`mine-${lift}`).getByTestId("mine-reply-private").filter({ hasText: PRIVATE }).waitFor();
  assert.match(await a.getByTestId(`message-${bus}`).innerText(), new RegExp(PUBLIC));
  assert.equal(await a.getByTestId(`message-${lift}`).getByText(PRIVATE).count(), 0, "not under the public message");
  await both(a, "page-sender", "the sender's view of the studio");
  const b = await browserAt(`${env.base}/board#/studio/${member}`, PHONE, "居民乙");
  await b.getByTestId(`message-${bus}`).getByText(PUBLIC).waitFor();
  assert.ok(!(await b.locator("body").innerText()).includes(PRIVATE), "nobody else sees the private reply");
  assert.equal(await b.getByTestId("my-messages").count(), 0);

  // The sender was told, with a way back to the studio.
  await a.getByTestId("nav-notices").click();
  await a.getByTestId("notice-list").waitFor();
  const notices = await a.getByTestId("notice-list").innerText();
  assert.match(notices, /您的留言有了答复/);
  assert.match(notices, new RegExp(PRIVATE));
  assert.match(notices, /您的留言已公开/);
  await check(a, "notices", "the sender's notices");
  await a.getByRole("link", { name: "查看工作室" }).first().click();
  await a.getByTestId("studio").waitFor();

  // Staff: nothing overdue today; three days on, the unanswered third message is.
  await clerk.reload();
  await clerk.getByTestId("tab-studios").click();
  await clerk.getByTestId("overdue-none").waitFor();
  const later = new Date(Date.now() + 8 * 3600 * 1000 + 3 * 86_400_000).toISOString().slice(0, 10);
  await clerk.getByTestId("overdue-day").fill(later);
  await clerk.getByTestId(`overdue-${noise}`).waitFor();
  assert.equal(await clerk.getByTestId("overdue-list").locator("li").count(), 1, "the replied ones are not overdue");
  assert.match(await clerk.getByTestId(`overdue-${noise}`).innerText(), /菜市场噪音[\s\S]*张建国[\s\S]*居民丙[\s\S]*已逾期 \d+ 天/);
  // (The console shows the staff account's name, "clerk": English allowed there.)
  await both(clerk, "console-overdue", "the console's overdue list", { english: true });
  shared = { member, a, m, clerk, lift };
});

/** `HH:MM` in China, `minutes` from now (capped at 23:59 of today). */
function chinaClock(minutes = 0) {
  const iso = new Date(Date.now() + 8 * 3600_000 + minutes * 60_000).toISOString();
  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
  return iso.slice(0, 10) === today ? iso.slice(11, 16) : "23:59";
}

test("office hours open a live room at the set time; a message becomes a 社情民意 item", async () => {
  const { member, a, m, clerk, lift } = shared;
  // Office hours "now" must end the same China day (the console's form takes one day):
  // in the last minutes before midnight there, wait for the new day.
  const toMidnight = 86_400_000 - ((Date.now() + 8 * 3600_000) % 86_400_000);
  if (toMidnight < 6 * 60_000) await new Promise((r) => setTimeout(r, toMidnight + 5_000));

  // The clerk schedules office hours starting now, in the console.
  await clerk.reload();
  await clerk.getByTestId("tab-studios").click();
  const form = clerk.getByTestId("duty-form");
  await form.getByTestId("duty-studio").selectOption(String(member));
  // A blank subject is refused in words.
  await form.getByTestId("duty-from").fill(chinaClock());
  await form.getByTestId("duty-to").fill(chinaClock(45));
  await form.getByTestId("duty-schedule").click();
  await form.getByTestId("problem").filter({ hasText: "请填写主题" }).waitFor();
  await form.getByTestId("duty-title").fill("交通出行答疑");
  await form.getByTestId("duty-schedule").click();
  await clerk.getByTestId("duty-status").filter({ hasText: "已安排：交通出行答疑" }).waitFor();
  const slotItem = clerk.getByTestId("duty-list").locator("li").filter({ hasText: "交通出行答疑" });
  assert.match(await slotItem.innerText(), /张建国[\s\S]*进行中/);
  // Office hours tomorrow: listed as not started, then cancelled (asked first).
  const tomorrow = new Date(Date.now() + 8 * 3600_000 + 86_400_000).toISOString().slice(0, 10);
  await form.getByTestId("duty-day").fill(tomorrow);
  await form.getByTestId("duty-from").fill("10:00");
  await form.getByTestId("duty-to").fill("11:00");
  await form.getByTestId("duty-title").fill("养老服务接待");
  await form.getByTestId("duty-schedule").click();
  await clerk.getByTestId("duty-status").filter({ hasText: "已安排：养老服务接待" }).waitFor();
  const tomorrowItem = clerk.getByTestId("duty-list").locator("li").filter({ hasText: "养老服务接待" });
  assert.match(await tomorrowItem.innerText(), /10:00–11:00[\s\S]*未开始/);
  await both(clerk, "console-duty", "the console's office hours", { english: true });
  // The resident's studio page shows it without a way in before its room opens.
  await a.goto(`${env.base}/board#/studio/${member}`);
  await a.reload();
  await a.getByTestId("duty").getByText("养老服务接待").waitFor();
  const upcoming = a.getByTestId("duty").locator("li").filter({ hasText: "养老服务接待" });
  assert.match(await upcoming.innerText(), /09:55 开放进入/);
  assert.equal(await upcoming.getByRole("button").count(), 0, "no way in before the room opens");

  // The current one: 进行中 and 进入会客室, which opens the meeting as audience.
  assert.match(await a.getByTestId("duty").innerText(), /会客时间[\s\S]*交通出行答疑[\s\S]*进行中/);
  await both(a, "page-duty", "the studio page with office hours");
  // The clerk cancels tomorrow's (asked first); it leaves the list.
  await tomorrowItem.getByRole("button", { name: "取消这次会客" }).click();
  await clerk.getByTestId("duty-status").filter({ hasText: "已取消：养老服务接待" }).waitFor();
  assert.equal(await tomorrowItem.count(), 0);
  await a.getByTestId("duty").getByRole("button", { name: "进入会客室" }).click();
  await a.waitForURL(/\/join#room=duty-/);
  await a.getByTestId("enter").click();
  await a.getByTestId("meeting").waitFor();
  await a.getByTestId("tab-questions").click();
  await a.getByTestId("ask").getByRole("textbox").fill("公交线路什么时候调整？");
  await a.getByTestId("ask").getByRole("button", { name: "提问" }).click();
  await a.getByText("待审核：目前仅您和主持人可见").waitFor();

  // The member's inbox shows 主持会客, which opens the host view; the question is approved.
  await m.reload();
  await m.getByTestId("inbox").waitFor();
  const hostNow = m.getByTestId("inbox").getByRole("button", { name: "主持会客" });
  await hostNow.waitFor();
  assert.match(await m.getByTestId("inbox").innerText(), /会客时间到了：交通出行答疑/);
  await both(m, "inbox-duty", "the member's inbox during office hours");
  await hostNow.click();
  await m.waitForURL(/\/join#room=duty-/);
  assert.match(await m.getByTestId("join-name").innerText(), /张建国/);
  await m.getByTestId("enter").click();
  await m.getByTestId("meeting").waitFor();
  await m.getByTestId("open-moderation").click();
  await m.getByTestId("moderation-list").getByText("公交线路什么时候调整？").waitFor();
  await m.getByTestId("moderation-list").getByTestId("approve").first().click();
  await a.getByTestId("notice-question_approved").waitFor();

  // The clerk files the resident's first message as a 社情民意 item.
  const reports = clerk.getByTestId("studio-reports");
  await reports.getByTestId("report-studio").selectOption(String(member));
  await reports.getByTestId(`to-report-${lift}`).click();
  const ask = clerk.getByTestId("ask");
  await ask.getByTestId("ask-text").fill("老旧小区加装电梯推进难");
  await ask.getByTestId("ask-ok").click();
  await ask.waitFor({ state: "detached" });
  await reports.getByTestId("report-status").filter({ hasText: "已报送：老楼加装电梯" }).waitFor();
  assert.match(await reports.getByTestId("report-list").innerText(), /老旧小区加装电梯推进难[\s\S]*九十年代的老楼[\s\S]*张建国[\s\S]*东城李大爷/);
  assert.match(await reports.getByTestId(`published-${lift}`).innerText(), /已报送社情民意/);
  await both(clerk, "console-reports", "the console's 社情民意", { english: true });

  // The sender's notices say so.
  await a.goto(`${env.base}/board#/notices`);
  await a.getByTestId("notice-list").waitFor();
  assert.match(await a.getByTestId("notice-list").innerText(), /您的留言已作为社情民意信息报送[\s\S]*老旧小区加装电梯推进难/);
  await check(a, "notices-report", "the sender's notices with the report");
});
