// The topic board (码上议事) from the committee office's side, in the console in Chromium:
// residents submit two topics and a studio message (the board's API, as their phones
// do); a clerk publishes the message, rejects one topic with a reason asked in a dialog
// (a blank reason refused in words), publishes the other and then a comment on it; sets
// the shortlist's threshold to 3; three residents support the topic and it is on the
// shortlist; the clerk creates a meeting in the console, selects the topic into it (its
// agenda shows 议题：<title>), moves it on with dated public notes, records the opinion,
// posts an official answer, creates an outcome (responsible unit, due and review dates),
// reports it at 50 % (a blank note refused in words), merges a duplicate into the topic
// (confirmed first) and follows the outcome up from the 回头看 list; the topic's public
// page shows each step. Every new screen: axe-core in the normal and high-contrast modes,
// no English on the zh-CN screen, no sideways scroll, screenshots at 1366×768 and
// 360×740 in test-results/boardstaff-*.png; the English screen is checked once.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { answerAsk, boardSaid, lookAtConsole, shots, startYishi } from "./harness.mjs";

const PHONE = { width: 360, height: 740 };
const ADMIN = "e2e-admin-key-0123456789";
const TITLE = "老旧小区加装电梯";
const MEETING = "城市更新专题协商会";

let env;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

/** A resident with a display name: their board cookie. */
async function resident(name) {
  const r = await fetch(`${env.base}/api/v1/board/identity`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }) });
  assert.equal(r.status, 200);
  return r.headers.get("set-cookie").split(";")[0];
}

/** A resident's command; its answer. */
async function command(cookie, body) {
  const r = await fetch(`${env.base}/api/v1/board/commands`, { method: "POST", headers: { cookie, "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = await r.json();
  assert.equal(r.status, 200, `${JSON.stringify(body)} → ${JSON.stringify(answer)}`);
  return answer;
}

const look = (p, name, what, opts) => lookAtConsole(p, `boardstaff-${name}`, what, opts);
const said = (p, text) => boardSaid(p, text, "boardstaff-failed");
const answer = answerAsk;

test("the office moderates, selects into a meeting, records the opinion and follows an outcome to 50 %", async () => {
  // Two residents raise topics; they wait for review.
  const author = await resident("东城李阿姨");
  await command(author, { type: "submit_topic", title: TITLE, text: "六层老楼没有电梯，老人上下楼很难，希望统一规划加装电梯，并明确补贴办法。", area: "东城街道", category: "城市建设" });
  await command(await resident("路人甲"), { type: "submit_topic", title: "推荐一家好吃的饭馆", text: "楼下新开的饭馆很好吃。", area: "西城街道", category: "其他" });
  // And a message to a member's studio (委员工作室), which waits in the same queue.
  const admin = (path, body, type = "application/json") =>
    fetch(`${env.base}${path}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": type }, body: type === "application/json" ? JSON.stringify(body) : body });
  assert.equal((await admin("/api/v1/roster/import?filename=m.csv", "委员编号,姓名,界别\n2024001,张建国,经济界\n", "application/octet-stream")).status, 200);
  const member = (await (await fetch(`${env.base}/api/v1/roster`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()).members[0].id;
  assert.equal((await admin("/api/v1/board/staff/commands", { type: "open_studio", member, name: "张建国", sector: "经济界" })).status, 200);
  await command(author, { type: "post_message", member, title: "电梯补贴怎么申请", text: "想了解加装电梯的补贴申请流程。" });

  const clerk = await env.staff("李干事", "clerk");
  await clerk.getByTestId("tab-board").click();
  const queue = clerk.getByTestId("bd-queue");
  await queue.getByText(TITLE).waitFor();
  const pending = await (await fetch(`${env.base}/api/v1/board/staff/queue`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
  const id = pending.topics.find((t) => t.title === TITLE).id;
  const spam = pending.topics.find((t) => t.title !== TITLE).id;
  assert.match(await queue.getByTestId(`pending-topic-${id}`).innerText(), /东城李阿姨[\s\S]*东城街道[\s\S]*城市建设[\s\S]*六层老楼/);
  await look(clerk, "queue", "the moderation queue");

  // Rejecting asks for the reason; a blank one is refused in words, in the dialog.
  await clerk.getByTestId(`reject-topic-${spam}`).click();
  const ask = clerk.getByTestId("ask");
  await ask.waitFor();
  assert.match(await ask.innerText(), /不予公开：推荐一家好吃的饭馆[\s\S]*理由会告知提交人/);
  await ask.getByTestId("ask-text").fill("   ");
  await ask.getByTestId("ask-ok").click();
  await ask.getByTestId("problem").filter({ hasText: "内容不能为空" }).waitFor();
  await look(clerk, "reject-dialog", "the rejection dialog", { modal: true });
  await answer(clerk, "与公共事务无关");
  await said(clerk, "已记录不予公开：推荐一家好吃的饭馆");
  await queue.getByTestId(`pending-topic-${spam}`).waitFor({ state: "detached" });

  // Publishing is one click; the queue is empty after.
  const message = queue.locator("li[data-testid^=pending-message-]");
  assert.match(await message.innerText(), /电梯补贴怎么申请[\s\S]*致 张建国[\s\S]*东城李阿姨[\s\S]*补贴申请流程/);
  await message.getByRole("button", { name: "审核通过，公开" }).click();
  await said(clerk, "已公开：电梯补贴怎么申请");
  await clerk.getByTestId(`publish-topic-${id}`).click();
  await said(clerk, `已公开：${TITLE}`);
  await clerk.getByTestId("bd-queue-empty").waitFor();

  // A comment on it waits in the queue under the topic's title, and is published.
  await command(author, { type: "post_comment", topic: id, text: "我们单元的老人都盼着装电梯。", stance: "for" });
  await clerk.getByTestId("bd-view-topics").click();
  await clerk.getByTestId("bd-view-queue").click();
  const comment = queue.locator("li[data-testid^=pending-comment-]");
  assert.match(await comment.innerText(), /评论议题：老旧小区加装电梯[\s\S]*东城李阿姨[\s\S]*支持[\s\S]*盼着装电梯/);
  await comment.getByRole("button", { name: "审核通过，公开" }).click();
  await said(clerk, "已公开：东城李阿姨的评论");
  await clerk.getByTestId("bd-queue-empty").waitFor();

  // The shortlist's threshold, then three residents' supports put the topic on it.
  await clerk.getByTestId("bd-view-shortlist").click();
  await clerk.getByTestId("bd-threshold").fill("3");
  await clerk.getByTestId("bd-threshold-set").click();
  await said(clerk, "支持达到 3 人的议题进入遴选名单");
  assert.equal(await clerk.getByTestId(`bd-topic-${id}`).count(), 0, "not shortlisted with no supports");
  for (const name of ["居民甲", "居民乙", "居民丙"]) await command(await resident(name), { type: "support", topic: id });
  await clerk.getByTestId("bd-view-topics").click();
  await clerk.getByTestId("bd-view-shortlist").click();
  await clerk.getByTestId(`bd-topic-${id}`).filter({ hasText: "3 人支持" }).waitFor();
  await look(clerk, "shortlist", "the shortlist");

  // A duplicate raised by staff (public at once), to be merged into the topic later.
  const dupAnswer = await fetch(`${env.base}/api/v1/board/staff/commands`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "submit_topic", title: "小区装电梯", text: "我们楼也想装电梯。", area: "东城街道", category: "城市建设" }),
  });
  assert.equal(dupAnswer.status, 200);
  const dup = (await dupAnswer.json()).events[0].body.topic.id;

  // A meeting prepared in the console, starting tomorrow.
  await clerk.getByTestId("tab-meetings").click();
  const at = await clerk.evaluate(() => {
    const d = new Date(Date.now() + 86_400_000);
    const pad = (n) => String(n).padStart(2, "0");
    return { date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, time: "09:30" };
  });
  const form = clerk.getByTestId("new-meeting");
  await form.getByTestId("meeting-title").fill(MEETING);
  await form.getByTestId("meeting-date").fill(at.date);
  await form.getByTestId("meeting-start").fill(at.time);
  await form.getByTestId("create-meeting").click();
  await clerk.getByTestId("open-created").click();
  await clerk.getByTestId("meeting-page").waitFor();
  const meeting = await clerk.evaluate(() => location.hash.split("/")[1]);

  // Select the shortlisted topic into it from the topic's desk.
  await clerk.getByTestId("tab-board").click();
  await clerk.getByTestId("bd-view-shortlist").click();
  await clerk.getByTestId(`bd-open-${id}`).click();
  const desk = clerk.getByTestId("bd-topic");
  await desk.getByTestId("bd-supports").filter({ hasText: "3 人支持" }).waitFor();
  await desk.getByTestId("bd-meeting-pick").selectOption({ value: meeting });
  await desk.getByTestId("bd-select-ok").click();
  await said(clerk, `已选入“${MEETING}”，会议议程增加了“议题：${TITLE}”`);
  await desk.getByTestId("bd-meeting").filter({ hasText: MEETING }).waitFor();

  // The next stage asks for its public note.
  await desk.getByTestId("bd-advance").filter({ hasText: "遴选" }).click();
  assert.match(await clerk.getByTestId("ask").innerText(), /进入“遴选”阶段[\s\S]*注明今天的日期/);
  await answer(clerk, "支持人数达到遴选标准，列入城市更新专题协商");
  await said(clerk, "已进入“遴选”阶段");

  // The opinion, then 已协商 with its note.
  await desk.getByTestId("bd-opinion-form-text").fill("建议统一规划加装电梯，财政按户补贴，简化审批流程。");
  await desk.getByTestId("bd-opinion-form-ok").click();
  await said(clerk, "协商意见已记录并公开");
  await desk.getByTestId("bd-opinion").filter({ hasText: "财政按户补贴" }).waitFor();
  await desk.getByTestId("bd-advance").filter({ hasText: "已协商" }).click();
  await answer(clerk, "已在城市更新专题协商会上协商");
  await said(clerk, "已进入“已协商”阶段");

  // An official answer, published at once.
  await desk.getByTestId("bd-answer").click();
  await answer(clerk, "区住建局已牵头制定加装电梯补贴办法。");
  await said(clerk, "官方答复已公开");

  // An outcome: responsible unit, due and review dates (review today: due for 回头看).
  const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
  const outcomeForm = desk.getByTestId("bd-new-outcome");
  await outcomeForm.getByTestId("bd-outcome-title").fill("加装电梯补贴办法");
  await outcomeForm.getByTestId("bd-outcome-unit").fill("区住建局");
  await outcomeForm.getByTestId("bd-outcome-due").fill("2027-06-30");
  await outcomeForm.getByTestId("bd-outcome-review").fill(today);
  await outcomeForm.getByTestId("bd-outcome-create").click();
  await said(clerk, "已新建办理成果：加装电梯补贴办法");
  const outcome = desk.locator("li[data-testid^=bd-outcome-]").filter({ hasText: "区住建局" });
  await outcome.getByTestId("bd-progress").filter({ hasText: "完成 0%" }).waitFor();

  // Progress to 50 %, with a dated note; a blank note is refused in words.
  await outcome.getByTestId("bd-percent").fill("50");
  await outcome.getByTestId("bd-outcome-status").selectOption("handling");
  await outcome.getByTestId("bd-progress-ok").click();
  await clerk.getByTestId("problem").filter({ hasText: "内容不能为空" }).waitFor();
  await outcome.getByTestId("bd-progress-note").fill("补贴办法已起草，正在征求意见");
  await outcome.getByTestId("bd-progress-ok").click();
  await said(clerk, "已报告进展：加装电梯补贴办法 完成 50%");
  await outcome.getByTestId("bd-progress").filter({ hasText: "完成 50%" }).waitFor();
  assert.match(await outcome.innerText(), /承办单位：区住建局[\s\S]*办理中[\s\S]*2027-06-30 前办结[\s\S]*补贴办法已起草/);
  assert.match(await desk.getByTestId("bd-timeline").innerText(), /议题公开[\s\S]*列入协商会议[\s\S]*进入“遴选”阶段：支持人数达到遴选标准[\s\S]*形成协商意见[\s\S]*进入“已协商”阶段[\s\S]*官方答复/);
  await look(clerk, "topic", "the topic's desk");

  // The meeting's agenda has the topic.
  await clerk.getByTestId("tab-meetings").click();
  await clerk.getByTestId("meetings").getByRole("button", { name: `打开：${MEETING}` }).click();
  await clerk.getByTestId("meeting-page").getByTestId("agenda").getByText(`议题：${TITLE}`).waitFor();

  // Merging the duplicate: asked first (the harness accepts), then it leaves the list.
  await clerk.getByTestId("tab-board").click();
  await clerk.getByTestId("bd-view-topics").click();
  await clerk.getByTestId(`bd-open-${dup}`).click();
  await clerk.getByTestId("bd-merge-into").selectOption({ value: String(id) });
  const confirmed = clerk.waitForEvent("dialog");
  await clerk.getByTestId("bd-merge-ok").click();
  assert.match((await confirmed).message(), /把“小区装电梯”合并到“老旧小区加装电梯”？合并后不能撤销/);
  await said(clerk, `已合并到“${TITLE}”`);
  await clerk.getByTestId("bd-topics").getByTestId(`bd-topic-${id}`).waitFor();
  assert.equal(await clerk.getByTestId(`bd-topic-${dup}`).count(), 0, "the duplicate leaves the list");
  await look(clerk, "topics", "the topics by stage");

  // 回头看: the outcome is due today; its follow-up is recorded in a dialog.
  await clerk.getByTestId("bd-view-review").click();
  const due = clerk.getByTestId("bd-review").locator("li").filter({ hasText: "加装电梯补贴办法" });
  await due.getByTestId("bd-progress").filter({ hasText: "完成 50%" }).waitFor();
  await look(clerk, "review", "the 回头看 list");
  await due.getByRole("button", { name: "记录回头看" }).click();
  await answer(clerk, "补贴办法按期起草，群众反映良好");
  await said(clerk, "已记录回头看：加装电梯补贴办法");
  await clerk.getByTestId("bd-review-empty").waitFor();

  // English is complete on the board's screens.
  await clerk.getByRole("button", { name: "English" }).click();
  await clerk.getByTestId("bd-review-empty").filter({ hasText: "No outcome is due for follow-up." }).waitFor();
  await clerk.getByTestId("bd-view-topics").click();
  await clerk.getByTestId(`bd-open-${id}`).click();
  await clerk.getByTestId("bd-topic").getByText("Responsible unit: 区住建局").waitFor();
  await clerk.screenshot({ path: join(shots, "boardstaff-topic-en-1366x768.png"), fullPage: true });
  await clerk.getByRole("button", { name: "中文" }).click();

  // The public page shows every step.
  const context = await env.browser.newContext({ viewport: PHONE, locale: "zh-CN" });
  const pub = await context.newPage();
  await pub.goto(`${env.base}/board#/topic/${id}`);
  await pub.getByTestId("outcomes").waitFor();
  assert.match(await pub.getByTestId("timeline").innerText(), /议题公开[\s\S]*列入协商会议[\s\S]*进入“遴选”阶段[\s\S]*列入城市更新专题协商[\s\S]*形成协商意见[\s\S]*进入“已协商”阶段/);
  assert.match(await pub.getByTestId("opinion").innerText(), /财政按户补贴/);
  assert.match(await pub.getByTestId("outcome-progress").innerText(), /完成 50%/);
  assert.match(await pub.getByTestId("outcomes").innerText(), /区住建局[\s\S]*补贴办法已起草/);
  assert.match(await pub.getByTestId("official").innerText(), /加装电梯补贴办法/);
  assert.match(await pub.getByTestId("comment-list").innerText(), /盼着装电梯/);
  await pub.screenshot({ path: join(shots, "boardstaff-public-topic-360x740.png"), fullPage: true });
  await context.close();
  await clerk.context().close();
});
