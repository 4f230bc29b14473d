// The whole journey of a topic (议题), in Chromium, from a resident's phone to the
// follow-up meeting (issue 18): a resident raises a topic on the board's page; a clerk
// publishes it in the console and sets the shortlist's threshold to 3; three residents
// support it (the board's API, as their phones do) and it is on the shortlist; the clerk
// creates a meeting in the console, selects the topic into it and moves it to 遴选,
// invites a member; the meeting runs from the console's links — the host view (进入主持)
// opens the meeting client, the chair checks the member in, opens the session, makes the
// topic's agenda item current, gives the member the floor and runs a vote the member
// casts, then publishes its result; the clerk reads the meeting's record on the topic's
// desk and records the opinion there, creates an outcome and reports 50 %; the author's
// 我的消息 and a supporter's feed tell each step and a webhook receiver got each `board.*`
// notice; the 回头看 list shows the outcome on its review day (the day picker) and the
// follow-up meeting (回头看会议) is prepared from it with the outcome as its agenda item;
// the topic's public page shows the speech and the vote's result under 协商过程.
// Screenshots (test-results/journey-*.png) at 1366×768 and 360×740, axe-core.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { accessible, answerAsk, boardSaid, lookAtConsole, noEnglish, shots, startYishi } from "./harness.mjs";

const ADMIN = "e2e-admin-key-0123456789";
const TITLE = "社区卫生服务站延长开放时间";
const MEETING = "基层医疗专题协商会";
const REVIEW_DAY = "2027-03-15";
const PHONE = { width: 360, height: 740 };
const LAPTOP = { width: 1366, height: 768 };
const BOARD_TYPES = ["board.published", "board.stage_advanced", "board.opinion", "board.outcome_created", "board.progress"];

let env;
let receiver;
/** What the webhook receiver got, parsed: { id, type, body }. */
const received = [];

before(async () => {
  env = await startYishi({ log: "/dev/null" });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ id: req.headers["webhook-id"], body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
});
after(async () => {
  await env?.stop();
  receiver?.close();
});

/** A request with the admin key; its JSON answer (it must succeed). */
async function admin(method, path, body) {
  const r = await fetch(`${env.base}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path} → ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A resident with a display name: their board cookie. */
async function resident(name) {
  const r = await fetch(`${env.base}/api/v1/board/identity`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }) });
  assert.equal(r.status, 200);
  return r.headers.get("set-cookie").split(";")[0];
}

/** A resident's request to the board's API; its answer (it must succeed). */
async function asResident(cookie, path, body) {
  const r = await fetch(`${env.base}/api/v1/board${path}`, { method: body ? "POST" : "GET", headers: { cookie, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const answer = await r.json();
  assert.equal(r.status, 200, `${path} ${JSON.stringify(body)} → ${JSON.stringify(answer)}`);
  return answer;
}

/** Wait for `ok()` to hold, asking again every 200 ms, for up to a minute. */
async function until(what, ok) {
  const end = Date.now() + 60_000;
  for (;;) {
    const got = await ok();
    if (got) return got;
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A page at both sizes: axe-core, no English on a zh-CN page, no sideways scroll, a full-page screenshot. */
async function both(p, name, what) {
  for (const size of [LAPTOP, PHONE]) {
    await p.setViewportSize(size);
    await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${what} scrolls sideways at ${size.width}`);
    await noEnglish(p, what);
    await accessible(p, `${what} at ${size.width}`);
    await p.screenshot({ path: join(shots, `journey-${name}-${size.width}x${size.height}.png`), fullPage: true });
  }
}

const said = (p, text) => boardSaid(p, text, "journey-failed");

test("a topic goes from a resident's phone through a meeting to an outcome at 50 % and its follow-up meeting", async () => {
  // The committee's platform listens for the board's notices.
  await admin("POST", "/api/v1/webhooks", { url: `http://127.0.0.1:${receiver.address().port}/board`, types: BOARD_TYPES });
  const roster = await fetch(`${env.base}/api/v1/roster/import?filename=m.csv`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/octet-stream" }, body: "委员编号,姓名,界别\nWY101,张三,医药卫生界\n" });
  assert.equal(roster.status, 200, await roster.text());

  // A resident raises the topic on the board's page, on a phone (the name sheet first).
  const phone = await env.browser.newContext({ viewport: PHONE, locale: "zh-CN", bypassCSP: true });
  const author = await phone.newPage();
  author.on("pageerror", (e) => console.error("[author] page error:", e.message));
  await author.goto(`${env.base}/board#/new`);
  await author.getByTestId("new-topic").waitFor();
  await author.getByTestId("f-title").fill(TITLE);
  await author.getByTestId("f-text").fill("社区卫生服务站下午五点就关门，上班族看不上病，希望晚上和周末也能开放。");
  await author.getByTestId("f-area").fill("南城街道");
  await author.getByTestId("f-category").fill("医疗卫生");
  await author.getByTestId("f-submit").click();
  await author.getByTestId("id-name").fill("南城赵师傅");
  await author.getByTestId("id-ok").click();
  await author.getByTestId("submitted").waitFor();

  // The clerk publishes it from the console's queue and sets the threshold to 3.
  const clerk = await env.staff("周干事", "clerk", { clipboard: true });
  await clerk.getByTestId("tab-board").click();
  const id = (await admin("GET", "/api/v1/board/staff/queue")).topics.find((t) => t.title === TITLE).id;
  await clerk.getByTestId(`publish-topic-${id}`).click();
  await said(clerk, `已公开：${TITLE}`);
  await clerk.getByTestId("bd-view-shortlist").click();
  await clerk.getByTestId("bd-threshold").fill("3");
  await clerk.getByTestId("bd-threshold-set").click();
  await said(clerk, "支持达到 3 人的议题进入遴选名单");

  // Three residents support it; it is on the shortlist.
  const supporters = [];
  for (const name of ["居民甲", "居民乙", "居民丙"]) {
    const cookie = await resident(name);
    await asResident(cookie, "/commands", { type: "support", topic: id });
    supporters.push(cookie);
  }
  await clerk.getByTestId("bd-view-topics").click();
  await clerk.getByTestId("bd-view-shortlist").click();
  await clerk.getByTestId(`bd-topic-${id}`).filter({ hasText: "3 人支持" }).waitFor();

  // A meeting created in the console, starting in half an hour, with an item before the topic's.
  await clerk.getByTestId("tab-meetings").click();
  const at = await clerk.evaluate(() => {
    const d = new Date(Date.now() + 30 * 60 * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return { date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, time: `${pad(d.getHours())}:${pad(d.getMinutes())}` };
  });
  const form = clerk.getByTestId("new-meeting");
  await form.getByTestId("meeting-title").fill(MEETING);
  await form.getByTestId("meeting-date").fill(at.date);
  await form.getByTestId("meeting-start").fill(at.time);
  await form.getByTestId("add-item").click();
  await form.getByTestId("item-title-0").fill("卫健局情况通报");
  await form.getByTestId("create-meeting").click();
  await clerk.getByTestId("open-created").click();
  await clerk.getByTestId("meeting-page").waitFor();
  const meeting = await clerk.evaluate(() => location.hash.split("/")[1]);

  // The topic selected into it from the shortlist's desk, then moved to 遴选.
  await clerk.getByTestId("tab-board").click();
  await clerk.getByTestId("bd-view-shortlist").click();
  await clerk.getByTestId(`bd-open-${id}`).click();
  const desk = clerk.getByTestId("bd-topic");
  await desk.getByTestId("bd-meeting-pick").selectOption({ value: meeting });
  await desk.getByTestId("bd-select-ok").click();
  await said(clerk, `已选入“${MEETING}”，会议议程增加了“议题：${TITLE}”`);
  await desk.getByTestId("in-meeting").filter({ hasText: "会议还没有进行到这个议题" }).waitFor();
  await desk.getByTestId("bd-advance").filter({ hasText: "遴选" }).click();
  await answerAsk(clerk, "支持人数达到遴选标准，列入基层医疗专题协商");
  await said(clerk, "已进入“遴选”阶段");

  // The member is invited on the meeting's page; their link is copied.
  await clerk.getByTestId("tab-meetings").click();
  await clerk.getByTestId("meetings").getByRole("button", { name: `打开：${MEETING}` }).click();
  const page = clerk.getByTestId("meeting-page");
  await page.getByTestId("agenda").getByText(`议题：${TITLE}`).waitFor();
  await page.getByRole("button", { name: "添加：张三" }).click();
  await page.getByTestId("invitees").getByText("张三").waitFor();
  await page.getByRole("button", { name: "复制链接：张三" }).click();
  await page.getByTestId("notice").filter({ hasText: "张三" }).waitFor();
  const memberUrl = await clerk.evaluate(() => navigator.clipboard.readText());

  // The host view opens the meeting client in a new tab, the agenda in the room.
  const [H] = await Promise.all([clerk.context().waitForEvent("page"), page.getByTestId("host").click()]);
  H.on("pageerror", (e) => console.error("[chair] page error:", e.message));
  await H.getByTestId("join-name").waitFor();
  await H.getByTestId("enter").click();
  await H.getByTestId("meeting").waitFor();
  const memberContext = await env.browser.newContext({ viewport: LAPTOP, locale: "zh-CN", bypassCSP: true });
  const Z = await memberContext.newPage();
  Z.on("pageerror", (e) => console.error("[member] page error:", e.message));
  await Z.goto(memberUrl);
  await Z.getByTestId("join-name").waitFor();
  await Z.getByTestId("enter").click();
  await Z.getByTestId("meeting").waitFor();

  // Check-in, the session, and the topic's item made current.
  await H.getByTestId("open-check-in").click();
  await Z.getByTestId("waiting-room").getByText("签到中").waitFor();
  await Z.getByTestId("check-in").click();
  await Z.getByTestId("checked-in").waitFor();
  await H.getByTestId("start-session").click();
  await Z.getByTestId("session-badge").filter({ hasText: "进行中" }).waitFor();
  await H.getByTestId("open-settings").click();
  await H.getByTestId("settings").getByRole("listitem").filter({ hasText: `议题：${TITLE}` }).getByRole("button", { name: "设为当前" }).click();
  await H.getByTestId("settings").getByRole("listitem").filter({ hasText: `议题：${TITLE}` }).getByText("当前").waitFor();
  await H.getByTestId("settings").getByRole("button", { name: "关闭" }).first().click();

  // The member asks for the floor and speaks; the chair gives it.
  await Z.getByTestId("raise-impromptu").click();
  await H.getByTestId("queue").getByText("张三").waitFor();
  await H.getByTestId("grant-next").click();
  await Z.getByTestId("speaker").filter({ hasText: "张三" }).waitFor();
  await Z.getByTestId("end-my-turn").click();
  await H.getByTestId("no-speaker").waitFor();

  // A vote: the member casts a ballot, the chair closes and publishes it.
  const QUESTION = "是否同意社区卫生服务站晚间开放？";
  await H.getByTestId("open-poll-builder").click();
  await H.getByTestId("poll-question").fill(QUESTION);
  await H.getByTestId("poll-binding").check();
  await H.getByTestId("create-poll").click();
  await Z.getByTestId("ballot").getByText("赞成").click();
  await Z.getByTestId("ballot-next").click();
  await Z.getByTestId("ballot-confirm").click();
  await Z.getByTestId("ballot-sealing").waitFor();
  await Z.getByTestId("ballot").getByRole("button", { name: "关闭" }).last().click();
  await H.getByTestId("tab-polls").click();
  await H.getByTestId("poll-1").filter({ hasText: "已投 1 票 · 应投 1 人" }).waitFor({ timeout: 30_000 });
  await H.getByTestId("close-poll").click();
  await H.getByTestId("publish-poll").click();
  await Z.getByTestId("tab-polls").click();
  await Z.getByTestId("poll-1").getByTestId("outcome").filter({ hasText: "通过" }).waitFor();
  await memberContext.close();
  await H.close();

  // The topic's desk shows what the meeting did on its item; the opinion is recorded there.
  await clerk.getByTestId("tab-board").click();
  await clerk.getByTestId("bd-view-topics").click();
  await clerk.getByTestId(`bd-open-${id}`).click();
  const record = desk.getByTestId("in-meeting");
  await record.getByTestId("meeting-speeches").filter({ hasText: "张三" }).waitFor();
  assert.match(await record.innerText(), new RegExp(`协商过程[\\s\\S]*${MEETING}[\\s\\S]*会议议程：议题：${TITLE}[\\s\\S]*张三（医药卫生界）[\\s\\S]*${QUESTION}[\\s\\S]*通过[\\s\\S]*共 1 票[\\s\\S]*赞成\\s*1`));
  await desk.getByTestId("bd-opinion-form-text").fill("建议社区卫生服务站工作日延长至晚八点，周末上午开放。");
  await desk.getByTestId("bd-opinion-form-ok").click();
  await said(clerk, "协商意见已记录并公开");
  await desk.getByTestId("bd-advance").filter({ hasText: "已协商" }).click();
  await answerAsk(clerk, "已在基层医疗专题协商会上协商");
  await said(clerk, "已进入“已协商”阶段");

  // An outcome with its review day, reported at 50 %.
  const outcomeForm = desk.getByTestId("bd-new-outcome");
  await outcomeForm.getByTestId("bd-outcome-title").fill("卫生服务站延时服务方案");
  await outcomeForm.getByTestId("bd-outcome-unit").fill("区卫健局");
  await outcomeForm.getByTestId("bd-outcome-review").fill(REVIEW_DAY);
  await outcomeForm.getByTestId("bd-outcome-create").click();
  await said(clerk, "已新建办理成果：卫生服务站延时服务方案");
  const outcome = desk.locator("li[data-testid^=bd-outcome-]").filter({ hasText: "区卫健局" });
  await outcome.getByTestId("bd-percent").fill("50");
  await outcome.getByTestId("bd-outcome-status").selectOption("handling");
  await outcome.getByTestId("bd-progress-note").fill("方案已起草，两个服务站试点");
  await outcome.getByTestId("bd-progress-ok").click();
  await said(clerk, "已报告进展：卫生服务站延时服务方案 完成 50%");
  await lookAtConsole(clerk, "journey-desk", "the topic's desk with its meeting's record");

  // 回头看: not due today; on its review day it is, and becomes the follow-up meeting.
  await clerk.getByTestId("bd-view-review").click();
  await clerk.getByTestId("bd-review-empty").waitFor();
  await clerk.getByTestId("bd-review-day").fill(REVIEW_DAY);
  const due = clerk.getByTestId("bd-review").locator("li").filter({ hasText: "卫生服务站延时服务方案" });
  await due.getByTestId("bd-progress").filter({ hasText: "完成 50%" }).waitFor();
  assert.match(await clerk.getByTestId("bd-review").innerText(), new RegExp(`截至 ${REVIEW_DAY}`));
  await lookAtConsole(clerk, "journey-review", "the 回头看 list on its review day");
  await clerk.getByTestId("bd-follow-up").click();
  const made = clerk.getByTestId("bd-follow-up-made");
  await made.filter({ hasText: `已准备“回头看会议（${REVIEW_DAY}）”，议程 1 项` }).waitFor();
  await lookAtConsole(clerk, "journey-follow-up", "the follow-up meeting prepared");
  await made.getByTestId("bd-follow-up-open").click();
  const followUp = clerk.getByTestId("meeting-page");
  await followUp.getByTestId("agenda").getByText("回头看：卫生服务站延时服务方案（区卫健局）").waitFor();
  assert.match(await followUp.innerText(), new RegExp(`回头看会议（${REVIEW_DAY}）[\\s\\S]*未开始`));

  // The author's 我的消息 tells each step, newest first.
  await author.goto(`${env.base}/board#/notices`);
  const notices = author.getByTestId("notice-list");
  await notices.getByText("办理成果有了新进展").waitFor();
  assert.match(await notices.innerText(), /办理成果有了新进展[\s\S]*方案已起草[\s\S]*议题形成了办理成果[\s\S]*议题有了新进展[\s\S]*已在基层医疗专题协商会上协商[\s\S]*议题形成了协商意见[\s\S]*晚八点[\s\S]*议题有了新进展[\s\S]*列入基层医疗专题协商[\s\S]*您提出的议题已公开/);
  await both(author, "notices", "the author's notices");
  // And a supporter's feed, from their support on.
  const feed = await asResident(supporters[0], "/feed");
  assert.deepEqual(
    feed.notices.map((n) => n.kind),
    ["progress", "outcome_created", "stage_advanced", "opinion", "stage_advanced"],
  );

  // The platform got each board notice, with its id.
  const kinds = await until("the board's webhooks", () => {
    const types = received.map((r) => r.body.type);
    return ["board.published", "board.opinion", "board.outcome_created", "board.progress"].every((t) => types.includes(t)) && types.filter((t) => t === "board.stage_advanced").length >= 2 ? types : null;
  });
  assert.deepEqual([...new Set(kinds)].sort(), [...BOARD_TYPES].sort());
  for (const r of received) {
    assert.match(r.id, /^board:\d+:board\./);
    // Those that name a topic name this one, with its address.
    if (typeof r.body.data.topic === "number") assert.match(r.body.data.topic_url, new RegExp(`/api/v1/board/topics/${id}$`), JSON.stringify(r.body));
  }
  assert.ok(received.filter((r) => r.body.data.topic === id).length >= 4, JSON.stringify(received.map((r) => r.body)));

  // The topic's public page: 协商过程 with the meeting, the speech and the vote's result.
  await author.setViewportSize(PHONE);
  await author.goto(`${env.base}/board#/topic/${id}`);
  const inMeeting = author.getByTestId("in-meeting");
  await inMeeting.waitFor();
  assert.match(await inMeeting.innerText(), new RegExp(`协商过程[\\s\\S]*${MEETING}[\\s\\S]*议题：${TITLE}[\\s\\S]*张三[\\s\\S]*医药卫生界[\\s\\S]*${QUESTION}[\\s\\S]*通过[\\s\\S]*共 1 票[\\s\\S]*赞成\\s*1[\\s\\S]*反对\\s*0`));
  assert.match(await author.getByTestId("opinion").innerText(), /晚八点/);
  assert.match(await author.getByTestId("outcome-progress").innerText(), /完成 50%/);
  await both(author, "public-topic", "the topic's public page with its meeting");
  // In English too.
  await author.getByRole("button", { name: "English" }).click();
  await inMeeting.getByText("In the meeting").waitFor();
  assert.match(await inMeeting.innerText(), /Passed[\s\S]*Ballots cast: 1[\s\S]*Yes\s*1/);
  await author.screenshot({ path: join(shots, "journey-public-topic-en-360x740.png"), fullPage: true });
  await phone.close();
  await clerk.context().close();
});
