// The public topic board (码上议事, /board) in Chromium, as residents on 360×740 phones
// use it: one raises a topic (giving a display name first), staff publish it (the admin
// key on the staff API), three residents in three browsers support it (the count shows
// 3, the button says 已支持), the first resident's 我的消息 tells the publication, a
// comment shows only after staff approve it, search finds the topic by a two-character
// word, and the topic's page shows its timeline, opinion, outcome with progress and an
// official answer. Pages left open follow live (the supports counted, a published
// comment, a 新 mark on 我的消息 when a notice arrives). axe-core on each screen, no sideways scroll, screenshots at 360×740
// and 1366×768 in test-results/board-*.png.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { accessible, noEnglish, shot, shots, startYishi } from "./harness.mjs";

const PHONE = { width: 360, height: 740 };
const LAPTOP = { width: 1366, height: 768 };
const ADMIN = "e2e-admin-key-0123456789";

let env;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

/** A staff command through the admin key. */
async function staff(command) {
  const r = await fetch(`${env.base}/api/v1/board/staff/commands`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(command),
  });
  const body = await r.json();
  assert.equal(r.status, 200, `${JSON.stringify(command)} → ${JSON.stringify(body)}`);
  return body;
}

async function queue() {
  const r = await fetch(`${env.base}/api/v1/board/staff/queue`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return r.json();
}

async function phone(name, viewport = PHONE) {
  const context = await env.browser.newContext({ viewport, locale: "zh-CN", bypassCSP: true, hasTouch: viewport.width < 500 });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(`${env.base}/board`);
  await page.getByTestId("list").waitFor();
  return page;
}

const noSidewaysScroll = async (p, what) =>
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${what}: the page scrolls sideways`);

/** axe-core, no sideways scroll, no English, a full-page screenshot. */
async function check(p, name, what) {
  await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await noSidewaysScroll(p, what);
  await noEnglish(p, what);
  await accessible(p, what);
  const size = p.viewportSize();
  await p.screenshot({ path: join(shots, `board-${name}-${size.width}x${size.height}.png`), fullPage: true });
}

/** The name prompt, answered. */
async function giveName(p, name) {
  await p.getByTestId("name-prompt").waitFor();
  await p.getByTestId("id-name").fill(name);
  await p.getByTestId("id-ok").click();
  await p.getByTestId("name-prompt").waitFor({ state: "detached" });
}

test("residents raise, support, follow, comment and search topics on their phones", async () => {
  // A staff topic is public at once: the list is not empty, and the search has something to leave out.
  const canteen = (await staff({ type: "submit_topic", title: "社区食堂开饭时间", text: "希望社区食堂早餐提前到六点半。", area: "西城街道", category: "养老服务" })).events[0].body.topic.id;

  const a = await phone("居民甲");
  await a.getByTestId(`topic-${canteen}`).waitFor();
  await check(a, "list-first", "the list");

  // Raising a topic: the name is asked before the first action, then the confirmation.
  await a.getByTestId("nav-new").click();
  await a.getByTestId("new-topic").waitFor();
  await a.getByTestId("f-title").fill("小区停车难");
  await a.getByTestId("f-text").fill("老旧小区停车位严重不足，晚上车辆乱停，消防通道常被堵住。建议利用周边空地建设立体停车库，并错时开放机关单位停车场。");
  await a.getByTestId("f-area").fill("东城街道");
  await a.getByRole("button", { name: "交通出行" }).click();
  assert.equal(await a.getByTestId("f-category").inputValue(), "交通出行");
  await check(a, "new", "the new-topic form");
  await a.getByTestId("f-submit").click();
  await a.getByTestId("id-name").waitFor();
  await check(a, "name", "the name prompt");
  await giveName(a, "东城王阿姨");
  await a.getByTestId("submitted").waitFor();
  assert.match(await a.getByTestId("submitted").innerText(), /已提交，审核通过后公开/);
  assert.match(await a.getByTestId("me").innerText(), /东城王阿姨/);
  await check(a, "submitted", "the confirmation");

  // Not public until staff publish it.
  const pending = await queue();
  const mine = pending.topics.find((t) => t.title === "小区停车难");
  assert.ok(mine, "the topic waits for moderation");
  const id = mine.id;
  await a.getByTestId("nav-list").click();
  await a.getByTestId(`topic-${canteen}`).waitFor();
  assert.equal(await a.getByTestId(`topic-${id}`).count(), 0, "a pending topic is not listed");
  await staff({ type: "moderate_topic", topic: id, decision: "publish" });

  // Three residents support it, each in their own browser.
  const b = await phone("居民乙");
  const c = await phone("居民丙");
  await a.reload();
  await a.getByTestId(`topic-${id}`).click();
  await a.getByTestId("topic").waitFor();
  await a.getByTestId("support").click();
  await a.getByTestId("support").filter({ hasText: "已支持" }).waitFor();
  for (const [p, name] of [
    [b, "居民乙"],
    [c, "居民丙"],
  ]) {
    await p.goto(`${env.base}/board#/topic/${id}`);
    await p.getByTestId("topic").waitFor();
    await p.getByTestId("support").click();
    await giveName(p, name);
    await p.getByTestId("support").filter({ hasText: "已支持" }).waitFor();
    assert.ok(await p.getByTestId("support").isDisabled(), "one support per person");
    assert.match(await p.getByTestId("support-status").innerText(), /已记录您的支持/);
  }
  // Live: the first resident's page, left open, counts the others' supports without a reload.
  await a.getByTestId("supports").filter({ hasText: /^3$/ }).waitFor({ timeout: 15_000 });
  assert.ok(await a.getByTestId("support").isDisabled());
  await a.getByTestId("nav-list").click();
  assert.match(await a.getByTestId(`topic-${id}`).innerText(), /3 人支持[\s\S]*0 条评论/);

  // Following: 关注 / 取消关注 (the author follows already).
  await a.getByTestId(`topic-${id}`).click();
  await a.getByTestId("follow").filter({ hasText: "取消关注" }).click();
  await a.getByTestId("follow").filter({ hasText: /^关注$/ }).waitFor();
  await a.getByTestId("follow").click();
  await a.getByTestId("follow").filter({ hasText: "取消关注" }).waitFor();

  // The first resident's notices tell the publication.
  await a.getByTestId("nav-notices").click();
  await a.getByTestId("notice-list").waitFor();
  assert.match(await a.getByTestId("notice-list").innerText(), /您提出的议题已公开[\s\S]*小区停车难/);
  await check(a, "notices", "my notices");

  // A comment waits for review; an empty one is refused in words next to the form.
  await b.getByTestId("comment-text").fill("   ");
  await b.getByTestId("comment-send").click();
  await b.getByTestId("comment-problem").filter({ hasText: "内容不能为空" }).waitFor();
  await b.getByTestId("stance-suggestion").check();
  await b.getByTestId("comment-text").fill("建议晚上开放学校操场临时停车。");
  await b.getByTestId("comment-send").click();
  await b.getByTestId("comment-status").filter({ hasText: "审核通过后公开" }).waitFor();
  assert.equal(await b.getByTestId("comment").count(), 0, "not shown before review");
  assert.equal(await b.getByTestId("comment-problem").count(), 0);
  const comment = (await queue()).comments.find((x) => x.text.includes("学校操场"));
  await staff({ type: "moderate_comment", comment: comment.id, decision: "publish" });
  // Live: the comment appears on the open page once published, without a reload.
  await b.getByTestId("comment").first().waitFor({ timeout: 15_000 });
  assert.match(await b.getByTestId("comment-list").innerText(), /建议[\s\S]*居民乙[\s\S]*学校操场/);

  // Search by a two-character word.
  await c.getByTestId("nav-list").click();
  await c.getByTestId("search").fill("停车");
  await c.getByTestId("search-go").click();
  await c.getByTestId("list-count").filter({ hasText: "“停车”的搜索结果：1 个议题" }).waitFor();
  assert.equal(await c.getByTestId(`topic-${id}`).count(), 1);
  assert.equal(await c.getByTestId(`topic-${canteen}`).count(), 0, "the other topic is left out");
  await check(c, "search", "the search's results");
  // Filter chips: 已办结 has none; 全部 brings it back.
  await c.getByTestId("search").fill("");
  await c.getByRole("button", { name: "清除搜索" }).click();
  await c.getByTestId("chips-stage").getByRole("button", { name: "已办结" }).click();
  await c.getByText("没有找到符合条件的议题").waitFor();
  await c.getByTestId("chips-stage").getByRole("button", { name: "全部" }).click();
  await c.getByTestId("more-filters").locator("summary").click();
  await c.getByTestId("chips-area").getByRole("button", { name: "东城街道" }).click();
  await c.getByTestId("list-count").filter({ hasText: "共 1 个议题" }).waitFor();
  await c.getByTestId(`topic-${id}`).waitFor();

  // The workflow moves on: a dated timeline, an official answer, the opinion and an outcome's progress.
  await staff({ type: "post_comment", topic: id, text: "感谢关注，区交通局正在调研周边停车资源。" });
  // Live: a supporter's open page says that new notices arrived; 我的消息 shows the answer.
  await c.getByTestId("unread").filter({ hasText: "新" }).waitFor({ timeout: 15_000 });
  await shot(c, "board-unread-360x740");
  await c.getByTestId("nav-notices").click();
  await c.getByTestId("notice-list").filter({ hasText: "议题有了官方答复" }).waitFor();
  assert.equal(await c.getByTestId("unread").count(), 0, "read once opened");
  await staff({ type: "advance_stage", topic: id, to: "selecting", note: "列入本季度协商遴选" });
  await staff({ type: "select_into_meeting", topic: id, meeting: "e2e" });
  await staff({ type: "record_opinion", topic: id, text: "建议错时共享机关单位停车位，新建立体停车库。" });
  await staff({ type: "advance_stage", topic: id, to: "consulted", note: "已于远程协商会协商" });
  const created = await staff({ type: "create_outcome", topic: id, title: "错时共享停车", unit: "区交通局", due: "2027-06-30", review: "2027-09-30" });
  const outcome = created.events[0].body.outcome.id;
  await staff({ type: "report_progress", outcome, percent: 60, status: "handling", note: "已开放两处停车场" });
  await a.goto(`${env.base}/board#/topic/${id}`);
  await a.getByTestId("outcomes").waitFor();
  assert.match(await a.getByTestId("timeline").innerText(), /议题公开[\s\S]*进入“遴选”阶段[\s\S]*列入本季度协商遴选[\s\S]*进入“已协商”阶段/);
  assert.match(await a.getByTestId("opinion").innerText(), /错时共享机关单位停车位/);
  assert.match(await a.getByTestId("outcome-progress").innerText(), /完成 60%/);
  assert.match(await a.getByTestId("official").innerText(), /官方答复[\s\S]*区交通局正在调研/);
  assert.match(await a.getByTestId("support-panel").innerText(), /不再征集支持/);
  await check(a, "topic", "the topic's page");
  await a.evaluate(() => scrollTo(0, 0));
  await shot(a, "board-topic-first-screen-360x740");
  await a.setViewportSize(LAPTOP);
  await check(a, "topic", "the topic's page on a laptop");
  await a.getByTestId("nav-list").click();
  await a.getByTestId(`topic-${id}`).waitFor();
  await check(a, "list", "the list on a laptop");
  await a.getByTestId("nav-notices").click();
  await a.getByTestId("notice-list").getByText("议题形成了办理成果").waitFor();
  await check(a, "notices", "my notices on a laptop");
  await a.setViewportSize(PHONE);
  await a.getByTestId("nav-list").click();
  await a.getByTestId(`topic-${id}`).waitFor();
  await check(a, "list", "the list on a phone");

  // English is complete.
  await a.getByRole("button", { name: "English" }).click();
  await a.getByTestId("nav-notices").filter({ hasText: "My notices" }).waitFor();
  await shot(a, "board-list-en-360x740");
  await a.getByRole("button", { name: "中文" }).click();
  for (const p of [a, b, c]) await p.context().close();
});
