// Meetings prepared in the console, in Chromium, as a committee office's clerk would:
// a consultation created with its time, place, two agenda items and a venue; three
// invitees added from the roster (one as host); the A4 invitation sheet printed to PDF
// (names checked with pdftotext); the host's and a member's links copied and opened (the
// host sees the room, the member joins); the member's link revoked and re-issued: the
// old link shows that it was replaced. Screenshots at the office laptop's and a phone's
// size, axe-core on every screen.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { accessible, shot, shots, startYishi } from "./harness.mjs";

const ROSTER = "委员编号,姓名,界别,分会场,手机\r\nWY001,张三,经济界,主会场,13812345678\r\nWY002,李四,教育界,主会场,13912345678\r\nWY003,王五,医药卫生界,东城分会场,13712345678\r\n";

let env;
/** What the first test leaves for the second: the clerk's page, the meeting's page and
 * the people in the room (the host and two members, by their links from the console). */
let clerk, meetingPage, chair, zhang, wang;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

/** A logged-in clerk on the meetings tab, in a context that may use the clipboard. */
async function clerkPage(name, viewport) {
  const p = await env.staff(name, "clerk", { viewport, clipboard: true });
  await p.getByTestId("new-meeting").waitFor();
  return { context: p.context(), p };
}

/** Both sizes of a screen, laptop then phone, and back to the laptop. */
async function shots2(p, name) {
  await p.evaluate(() => scrollTo(0, 0));
  await shot(p, `${name}-1366`);
  await p.setViewportSize({ width: 360, height: 740 });
  await p.evaluate(() => scrollTo(0, 0));
  await shot(p, `${name}-360`);
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `${name} scrolls sideways on a phone`);
  await p.setViewportSize({ width: 1366, height: 768 });
}

/** Open a join link in a fresh context and enter; the page. */
async function openLink(url, who) {
  const context = await env.browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN", bypassCSP: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`[${who}] page error:`, e.message));
  await page.goto(url);
  await page.getByTestId("join-name").waitFor();
  await page.getByTestId("enter").click();
  await page.locator("[data-testid=meeting], [data-testid=end-screen]").first().waitFor();
  return { context, page };
}

test("a clerk prepares a consultation, invites three members, prints the invitations, hands out links and replaces one", async () => {
  // A tiny roster, through the API as the office's own systems would.
  const r = await fetch(`${env.base}/api/v1/roster/import?filename=roster.csv`, {
    method: "POST",
    headers: { authorization: "Bearer e2e-admin-key-0123456789", "content-type": "application/octet-stream" },
    body: Buffer.from(`\ufeff${ROSTER}`, "utf8"),
  });
  assert.equal(r.status, 200, await r.text());

  const { context, p } = await clerkPage("李干事", { width: 1366, height: 768 });
  await p.getByTestId("meetings").getByText("浏览器测试协商会").waitFor();
  await shots2(p, "meetings-list");
  await accessible(p, "the meetings list");

  // The new-meeting form: starting in half an hour, two agenda items and a venue.
  const at = await p.evaluate(() => {
    const d = new Date(Date.now() + 30 * 60 * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    return { date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`, time: `${pad(d.getHours())}:${pad(d.getMinutes())}` };
  });
  const form = p.getByTestId("new-meeting");
  await form.getByTestId("meeting-title").fill("社区养老服务专题协商会");
  await form.getByTestId("meeting-date").fill(at.date);
  await form.getByTestId("meeting-start").fill(at.time);
  await form.getByTestId("meeting-place").fill("政协三楼第一会议室");
  await form.getByTestId("meeting-description").fill("围绕社区养老服务设施建设协商。");
  await form.getByTestId("add-item").click();
  await form.getByTestId("item-title-0").fill("部门情况通报");
  await form.getByTestId("item-limit-0").fill("10");
  await form.getByTestId("add-item").click();
  await form.getByTestId("item-title-1").fill("委员协商发言");
  await form.getByTestId("item-limit-1").fill("5");
  await form.getByTestId("add-venue").click();
  await form.getByRole("textbox", { name: "分会场名称" }).fill("东城分会场");
  await form.getByRole("textbox", { name: "联系人及电话" }).fill("刘老师 13800000000");
  // Reorder and back: the move buttons work from the keyboard too.
  await form.getByRole("button", { name: "下移：第 1 项议程" }).click();
  assert.equal(await form.getByTestId("item-title-0").inputValue(), "委员协商发言");
  await form.getByRole("button", { name: "上移：第 2 项议程" }).click();
  assert.equal(await form.getByTestId("item-title-0").inputValue(), "部门情况通报");
  await shots2(p, "meeting-form");
  await accessible(p, "the new-meeting form");
  await form.getByTestId("create-meeting").click();
  await p.getByTestId("open-created").click();

  // The meeting's page: details (edited once), then three invitees from the roster.
  const page = p.getByTestId("meeting-page");
  await page.waitFor();
  await page.getByTestId("agenda").getByText("委员协商发言").waitFor();
  await page.getByText("未开始").first().waitFor();
  await page.getByTestId("edit").click();
  const edit = page.getByTestId("edit-meeting");
  assert.equal(await edit.getByTestId("item-title-1").inputValue(), "委员协商发言");
  await edit.getByTestId("meeting-place").fill("政协三楼第二会议室");
  await edit.getByTestId("save-meeting").click();
  await page.getByTestId("notice").filter({ hasText: "已保存" }).waitFor();
  await page.getByText("政协三楼第二会议室").first().waitFor();
  await page.getByTestId("roster-results").getByText("王五").waitFor();
  await page.getByRole("button", { name: "添加：张三" }).click();
  await page.getByTestId("invitees").getByText("张三").waitFor();
  await page.getByRole("combobox", { name: "李四 的身份" }).selectOption("host");
  await page.getByRole("button", { name: "添加：李四" }).click();
  await page.getByTestId("invitees").getByText("李四").waitFor();
  await page.getByTestId("roster-search").fill("王");
  await page.getByRole("button", { name: "添加：王五" }).click();
  await page.getByTestId("invitees").getByText("王五").waitFor();
  assert.equal(await page.getByTestId("invitees").locator("tbody tr").count(), 3);
  assert.match(await page.getByTestId("invitee-李四").innerText(), /主持人/);
  await page.getByTestId("invitee-张三").getByTestId("qr").click();
  await page.getByRole("img", { name: "张三 的入会二维码" }).waitFor();
  await p.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
  await shots2(p, "meeting-page");
  await accessible(p, "the meeting page");

  // The A4 invitation sheet, printed to PDF.
  const [sheet] = await Promise.all([context.waitForEvent("page"), page.getByTestId("print").click()]);
  await sheet.getByTestId("invite-card").nth(2).waitFor();
  await sheet.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
  assert.equal(await sheet.getByTestId("invite-card").count(), 3);
  await sheet.setViewportSize({ width: 1366, height: 768 });
  await shots2(sheet, "print-sheet");
  await accessible(sheet, "the print sheet");
  const pdf = join(shots, "meeting-invitations.pdf");
  await sheet.emulateMedia({ media: "print" });
  await sheet.pdf({ path: pdf, format: "A4", printBackground: true });
  const text = execFileSync("pdftotext", [pdf, "-"], { encoding: "utf8" });
  const flat = text.replace(/\s+/g, "");
  for (const name of ["张三", "李四", "王五", "社区养老服务专题协商会", "政协三楼第二会议室"]) assert.ok(flat.includes(name), `${name} is on the printed sheet:\n${text}`);
  const pages = execFileSync("pdfinfo", [pdf], { encoding: "utf8" });
  assert.match(pages, /Pages:\s+1\b/, "three cards fit one A4 page");
  assert.match(pages, /Page size:.*\(A4\)/, "the page is A4");
  await sheet.close();

  // Copy all links: one line per person.
  await page.getByTestId("copy-all").click();
  await page.getByTestId("notice").filter({ hasText: "已复制 3 人的链接" }).waitFor();
  const all = await p.evaluate(() => navigator.clipboard.readText());
  assert.equal(all.split("\n").filter((l) => l.includes("/join#room=")).length, 3, all);
  assert.match(all, /社区养老服务专题协商会/);

  // The host's and a member's links, copied and opened.
  const copyLink = async (name) => {
    await page.getByRole("button", { name: `复制链接：${name}` }).click();
    await page.getByTestId("notice").filter({ hasText: name }).waitFor();
    return await p.evaluate(() => navigator.clipboard.readText());
  };
  const hostUrl = await copyLink("李四");
  const memberUrl = await copyLink("张三");
  assert.notEqual(hostUrl, memberUrl);
  const host = await openLink(hostUrl, "host");
  await host.page.getByTestId("meeting").waitFor();
  assert.match(await host.page.locator("body").innerText(), /李四/);
  const member = await openLink(memberUrl, "member");
  await member.page.getByTestId("meeting").waitFor();
  assert.match(await member.page.locator("body").innerText(), /张三/);

  // Revoke and re-issue 张三's link: the old one now says it was replaced.
  await page.getByTestId("invitee-张三").getByTestId("reissue").click();
  await page.getByTestId("notice").filter({ hasText: "第 2 版" }).waitFor();
  const fresh = await copyLink("张三");
  assert.notEqual(fresh, memberUrl);
  const old = await openLink(memberUrl, "old link");
  const end = old.page.getByTestId("end-screen");
  await end.waitFor();
  assert.equal(await end.getAttribute("data-cause"), "token_revoked");
  assert.match(await end.innerText(), /此链接已被替换/);
  await shot(old.page, "meeting-link-replaced");
  const again = await openLink(fresh, "new link");
  await again.page.getByTestId("meeting").waitFor();

  // The third invitee's link, for the meeting of the next test.
  const wangUrl = await copyLink("王五");
  for (const c of [member.context, old.context]) await c.close();
  clerk = p;
  meetingPage = page;
  zhang = again;
  wang = await openLink(wangUrl, "王五");
  await wang.page.getByTestId("meeting").waitFor();
  chair = host;
});

test("the meeting runs from the console's links (a speech, an interjection, a secret vote), closes, and its minutes are downloaded from the console", async () => {
  const H = chair.page;
  const Z = zhang.page;
  const W = wang.page;
  await H.getByTestId("open-check-in").click();
  const checkIn = async (m) => {
    await m.getByTestId("waiting-room").getByText("签到中").waitFor();
    await m.getByTestId("check-in").click();
    await m.getByTestId("checked-in").waitFor();
  };
  await checkIn(Z);
  // The office sees attendance at a glance: one of the two members in, who is missing.
  await clerk.reload();
  const attendance = meetingPage.getByTestId("live-attendance");
  await attendance.getByTestId("not-checked-in").filter({ hasText: "王五" }).waitFor();
  assert.equal(await attendance.getByTestId("checked-in-count").innerText(), "1");
  assert.match(await attendance.innerText(), /1\s*\/\s*2\s*已签到 \/ 应到/);
  assert.doesNotMatch(await attendance.getByTestId("not-checked-in").innerText(), /张三|李四/);
  await attendance.scrollIntoViewIfNeeded();
  await shot(clerk, "meeting-live-attendance-1366");
  await accessible(clerk, "a live meeting's attendance");
  await checkIn(W);
  // Updated without a reload.
  await attendance.getByTestId("all-checked-in").waitFor({ timeout: 15_000 });
  assert.equal(await attendance.getByTestId("checked-in-count").innerText(), "2");
  await H.getByTestId("start-session").click();
  await Z.getByTestId("session-badge").filter({ hasText: "进行中" }).waitFor();

  // A speech by 张三, interjected by 王五.
  await Z.getByTestId("raise-impromptu").click();
  await H.getByTestId("queue").getByText("张三").waitFor();
  await H.getByTestId("grant-next").click();
  await W.getByTestId("speaker").filter({ hasText: "张三" }).waitFor();
  await W.getByTestId("raise-interjection").click();
  await H.getByTestId("queue").getByText("王五").waitFor();
  await H.getByTestId("grant-next").click();
  await Z.getByTestId("speaker").filter({ hasText: "王五" }).waitFor();
  await W.getByTestId("end-my-turn").click();
  // The floor goes back to 张三, who ends the speech.
  await W.getByTestId("speaker").filter({ hasText: "张三" }).waitFor();
  await Z.getByTestId("end-my-turn").click();
  await W.getByTestId("no-speaker").waitFor();

  // A secret, binding vote: both members vote 赞成; closed and announced.
  await H.getByTestId("open-poll-builder").click();
  await H.getByTestId("poll-question").fill("是否同意新建社区日间照料中心？");
  await H.getByTestId("poll-binding").check();
  await H.getByTestId("create-poll").click();
  for (const m of [Z, W]) {
    await m.getByTestId("ballot").getByText("赞成").click();
    await m.getByTestId("ballot-next").click();
    await m.getByTestId("ballot-confirm").click();
    await m.getByTestId("ballot-sealing").waitFor();
    await m.getByTestId("ballot").getByRole("button", { name: "关闭" }).last().click();
  }
  await H.getByTestId("tab-polls").click();
  await H.getByTestId("poll-1").filter({ hasText: "已投 2 票 · 应投 2 人" }).waitFor({ timeout: 10_000 });
  await H.getByTestId("close-poll").click();
  await H.getByTestId("publish-poll").click();
  await Z.getByTestId("tab-polls").click();
  await Z.getByTestId("poll-1").getByTestId("outcome").filter({ hasText: "通过" }).waitFor();

  // The host closes the meeting.
  await H.getByTestId("close-session").click();
  await H.getByTestId("confirm-ok").click();
  await Z.getByTestId("closed-screen").waitFor();

  // In the console the meeting is closed, with its minutes to download.
  await clerk.reload();
  await meetingPage.getByTestId("minutes").waitFor();
  assert.match(await meetingPage.innerText(), /已结束/);
  await shot(clerk, "meeting-closed-minutes-1366");
  await accessible(clerk, "a closed meeting with its minutes");
  const download = async (format) => {
    const [file] = await Promise.all([clerk.waitForEvent("download"), meetingPage.getByTestId(`minutes-${format}`).click()]);
    const path = join(shots, `minutes.${format}`);
    await file.saveAs(path);
    return { path, name: file.suggestedFilename() };
  };
  const id = new URL(clerk.url()).hash.split("/")[1];
  const room = await (await fetch(`${env.base}/api/v1/rooms/${id}`, { headers: { authorization: "Bearer e2e-admin-key-0123456789" } })).json();
  assert.match(room.final_hash, /^[0-9a-f]{64}$/);

  const docx = await download("docx");
  assert.match(docx.name, /\.docx$/);
  const xml = execFileSync("python3", ["-c", "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('word/document.xml').decode())", docx.path], { encoding: "utf8" });
  const words = xml.replace(/<[^>]+>/g, "");
  for (const text of ["社区养老服务专题协商会", "李四", "张三", "王五", "插话", "是否同意新建社区日间照料中心？", "通过", room.final_hash]) {
    assert.ok(words.includes(text), `the DOCX minutes name ${text}`);
  }
  // The PDF, typeset by the server's worker: the same facts, read back with pdftotext.
  const pdf = await download("pdf");
  assert.match(pdf.name, /\.pdf$/);
  const printed = execFileSync("pdftotext", [pdf.path, "-"], { encoding: "utf8" }).replace(/\s+/g, "");
  for (const text of ["社区养老服务专题协商会", "李四", "张三", "王五", "插话", "是否同意新建社区日间照料中心？", "通过", room.final_hash]) {
    assert.ok(printed.includes(text), `the PDF minutes name ${text}`);
  }
  // The times: when the session opened and closed (Beijing time), and how long each speech ran.
  assert.match(printed, /开会时间：\d{4}-\d{2}-\d{2}\d{2}:\d{2}/);
  assert.match(printed, /闭会时间：\d{4}-\d{2}-\d{2}\d{2}:\d{2}/);
  // A speech's row, read with the page's layout (pdftotext's flowing order can put a
  // short cell such as 0秒 after the next row's).
  const rows = execFileSync("pdftotext", ["-layout", pdf.path, "-"], { encoding: "utf8" });
  assert.match(rows, /张三.*即席发言\s+\d{2}:\d{2}:\d{2}\s+\d+\s*秒/);
  const printedVote = printed.slice(printed.indexOf("是否同意新建社区日间照料中心？"));
  const printedSection = printedVote.slice(0, printedVote.indexOf("提问"));
  for (const name of ["张三", "王五"]) assert.ok(!printedSection.includes(name), `the PDF's secret vote does not name ${name}`);
  const md = await download("md");
  const minutes = readFileSync(md.path, "utf8");
  assert.ok(minutes.includes(room.final_hash), "the Markdown minutes end with the record's hash");
  // The secret vote's section: its counts, never who voted.
  const vote = minutes.slice(minutes.indexOf("是否同意新建社区日间照料中心？"));
  const section = vote.slice(0, vote.indexOf("\n## "));
  assert.match(section, /不记名/);
  assert.match(section, /赞成[^\n]*2/);
  for (const name of ["张三", "王五"]) assert.ok(!section.includes(name), `the secret vote's section does not name ${name}:\n${section}`);

  // The participation records (履职档案) count the meeting: from the 履职档案 tab, the
  // points as CSV — both members checked in (出席 2) and took the floor (发言 3; an
  // interjection is a speech in the default rules); the host is not a member here.
  const meetingUrl = clerk.url();
  await clerk.getByTestId("tab-reports").click();
  await clerk.getByTestId("reports").waitFor();
  const [pointsFile] = await Promise.all([clerk.waitForEvent("download"), clerk.getByTestId("report-points").click()]);
  const points = readFileSync(await pointsFile.path(), "utf8");
  for (const [number, name] of [["WY001", "张三"], ["WY003", "王五"]]) {
    assert.match(points, new RegExp(`^${number},${name},出席,2,`, "m"), `${name} has 2 points for attending:\n${points}`);
    assert.match(points, new RegExp(`^${number},${name},发言,3,`, "m"), `${name} has 3 points for the speech:\n${points}`);
  }
  assert.ok(!points.includes("李四"), "the host earns no member points");
  await clerk.goto(meetingUrl);
  await clerk.reload();
  await meetingPage.getByTestId("minutes").waitFor();

  // Duplicate: a new scheduled meeting with the same invitees.
  await meetingPage.getByTestId("duplicate").click();
  await meetingPage.getByTestId("notice").filter({ hasText: "已复制为新会议" }).waitFor();
  await meetingPage.getByTestId("invitees").getByText("王五").waitFor();
  for (const c of [chair.context, zhang.context, wang.context, clerk.context()]) await c.close();
});
