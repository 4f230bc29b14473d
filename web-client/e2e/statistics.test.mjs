// Statistics (出席和发言统计) in the console, in Chromium: a meeting prepared over the
// API with three members invited from the roster, run by the invitees' links in their
// own browsers (real WebSockets: two check in, one speaks, one never comes), closed;
// then a clerk opens the reports tab and reads the charts: the meeting's attendance rate
// (2 of 3) on its column, the speaker's sector with its speaking time on its bar, the speaker
// first among the top speakers; the data tables agree with the charts and with the API,
// the CSV downloads; a period without meetings says so in a sentence. Screenshots at the
// office laptop's and a phone's size, axe-core on each.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { accessible, shot, startYishi } from "./harness.mjs";

const ROSTER = "\ufeff委员编号,姓名,界别,分会场\r\nWY001,王建国,经济界,主会场\r\nWY002,李秀英,教育界,主会场\r\nWY003,赵明,医药卫生界,主会场\r\n";
const ADMIN = { authorization: "Bearer e2e-admin-key-0123456789" };
/** Where the screenshots to look at go (full pages), beside the harness's own. */
const REVIEW = "/tmp/shots-charts";
/** At least how long 王建国 holds the floor. */
const SPEECH_MS = 2_500;

let env;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
  mkdirSync(REVIEW, { recursive: true });
});
after(async () => {
  await env?.stop();
});

async function adminCall(method, path, body) {
  const r = await fetch(`${env.base}/api/v1${path}`, {
    method,
    headers: { ...ADMIN, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) assert.fail(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function download(p, locator) {
  const [file] = await Promise.all([p.waitForEvent("download"), locator.click()]);
  return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
}

/** Today in Beijing, `YYYY-MM-DD`. */
const beijingToday = () => new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);

test("after a meeting, the charts show its attendance rate and the sector's speaking time; tables and CSV agree", async () => {
  // The roster and the meeting, over the API as the office's systems would.
  const imported = await fetch(`${env.base}/api/v1/roster/import?filename=roster.csv`, { method: "POST", headers: { ...ADMIN, "content-type": "text/csv" }, body: Buffer.from(ROSTER, "utf8") });
  assert.equal(imported.status, 200, await imported.text());
  const { members } = await adminCall("GET", "/roster");
  const id = (name) => members.find((m) => m.name === name).id;
  const startsAt = Date.now() + 600_000;
  const meeting = await adminCall("POST", "/meetings", { title: "社区养老服务专题协商会", kind: "consultation", starts_at: startsAt, ends_at: startsAt + 3600_000 });
  const invited = await adminCall("POST", `/meetings/${meeting.id}/invitees`, {
    members: ["王建国", "李秀英", "赵明"].map((n) => ({ id: id(n), role: "member" })),
    people: [{ name: "张主席", role: "host" }],
  });
  const link = (name) => invited.invitees.find((i) => i.name === name).link;

  // The meeting, in the invitees' browsers: 赵明 never comes.
  const host = await env.open(link("张主席"), "host", undefined, { audit: false });
  const wang = await env.open(link("王建国"), "wang", undefined, { audit: false });
  const li = await env.open(link("李秀英"), "li", undefined, { audit: false });
  const H = host.page;
  await H.getByTestId("open-check-in").click();
  for (const m of [wang.page, li.page]) {
    await m.getByTestId("check-in").click();
    await m.getByTestId("checked-in").waitFor();
  }
  await H.getByTestId("start-session").click();
  await wang.page.getByTestId("session-badge").filter({ hasText: "进行中" }).waitFor();
  await wang.page.getByTestId("raise-impromptu").click();
  await H.getByTestId("queue").getByText("王建国").waitFor();
  await H.getByTestId("grant-next").click();
  await wang.page.getByTestId("end-my-turn").waitFor();
  await new Promise((r) => setTimeout(r, SPEECH_MS));
  await wang.page.getByTestId("end-my-turn").click();
  await li.page.getByTestId("no-speaker").waitFor();
  await H.getByTestId("close-session").click();
  await H.getByTestId("confirm-ok").click();
  await wang.page.getByTestId("closed-screen").waitFor();
  for (const x of [host, wang, li]) await x.context.close();

  // A clerk on the reports tab, today's period.
  const p = await env.staff("李干事", "clerk", { viewport: { width: 1366, height: 768 } });
  const today = beijingToday();
  // The room is closed in the store a moment after the session (the final hash).
  let stats;
  for (let i = 0; i < 100; i++) {
    stats = await (await p.request.get(`${env.base}/api/v1/reports/statistics?from=${today}&to=${today}`)).json();
    if (stats.meetings.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(stats.meetings.length, 1, JSON.stringify(stats));
  const spoken = stats.sectors[0].speech_ms;
  assert.equal(stats.sectors[0].sector, "经济界");
  assert.ok(spoken >= SPEECH_MS && spoken < SPEECH_MS + 10_000, `王建国 spoke ${spoken} ms`);
  // As the charts and tables say it: `3秒`, `1分05秒`.
  const secs = Math.floor((spoken + 500) / 1000);
  const said = secs >= 60 ? `${Math.floor(secs / 60)}分${String(secs % 60).padStart(2, "0")}秒` : `${secs}秒`;

  await p.getByTestId("tab-reports").click();
  await p.getByTestId("report-from").fill(today);
  await p.getByTestId("report-to").fill(today);
  const view = p.getByTestId("statistics");
  const attendance = view.getByTestId("chart-attendance");
  await attendance.locator("svg").waitFor();

  // Figure 1: the meeting's column says 66.7% (2 of the 3 invited; the host runs it).
  const column = attendance.locator('g[data-bar="社区养老服务专题协商会"]');
  assert.match(await column.textContent(), /66\.7%/);
  assert.match(await column.textContent(), new RegExp(today));
  assert.match(await attendance.locator("figcaption").innerText(), /各次会议出席率/);
  // Its data table is read by screen readers before it is shown; the toggle shows it.
  assert.equal(await attendance.getByTestId("chart-attendance-data").getByRole("table").count(), 1);
  await attendance.getByTestId("chart-attendance-toggle").click();
  assert.equal(await attendance.getByTestId("chart-attendance-toggle").getAttribute("aria-expanded"), "true");
  const row = attendance.getByTestId("chart-attendance-data").locator("tbody tr");
  assert.equal(await row.count(), 1);
  const cells = await row.locator("th, td").allInnerTexts();
  assert.deepEqual(cells.slice(0, 9), ["社区养老服务专题协商会", today, "协商会", "3", "2", "1", "66.7%", "主会场 2/2", "1"]);
  assert.equal(cells[9], said);

  // Figure 2: 经济界's bar with its time; the table says the same, and the seconds.
  const sectors = view.getByTestId("chart-sectors");
  const bar = sectors.locator('g[data-bar="经济界"]');
  assert.equal(await bar.locator("text").last().textContent(), said);
  await sectors.getByTestId("chart-sectors-toggle").click();
  const sectorRow = await sectors.getByTestId("chart-sectors-data").locator("tbody tr").first().locator("th, td").allInnerTexts();
  assert.deepEqual(sectorRow, ["经济界", "1", said, String(secs), "1"]);
  assert.equal(await sectors.locator("g[data-bar]").count(), 1, "only the sector that spoke");

  // Figure 3: the speaker first (and alone: nobody else spoke).
  const top = view.getByTestId("chart-top");
  assert.deepEqual(await top.locator("g[data-bar]").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-bar"))), ["王建国"]);
  // The members' attendance: 赵明 invited once and absent.
  const zhao = await view.getByTestId("stats-members").locator("tr", { hasText: "赵明" }).locator("th, td").allInnerTexts();
  assert.deepEqual(zhao.slice(0, 7), ["WY003", "赵明", "医药卫生界", "1", "0", "1", "0%"]);

  // The CSV of figure 1 and of figure 2, as Excel and WPS open them.
  const meetingsCsv = await download(p, attendance.getByTestId("chart-attendance-csv"));
  assert.equal(meetingsCsv.name, `会议出席与发言统计-${today}至${today}.csv`);
  assert.deepEqual([...meetingsCsv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "a BOM");
  const lines = meetingsCsv.bytes.subarray(3).toString("utf8").trim().split("\r\n");
  assert.equal(lines.length, 2);
  assert.match(lines[1], new RegExp(`^社区养老服务专题协商会,${today},协商议事,3,2,1,66\\.7%,主会场 2/2,1,${secs},`));
  const sectorsCsv = await download(p, sectors.getByTestId("chart-sectors-csv"));
  assert.match(sectorsCsv.bytes.subarray(3).toString("utf8"), new RegExp(`\r\n经济界,1,${secs},1,`));

  await accessible(p, "the statistics with their tables shown");
  await p.evaluate(() => document.querySelector("[data-testid=statistics]").scrollIntoView());
  await shot(p, "statistics-1366");
  await p.screenshot({ path: `${REVIEW}/statistics-1366x768.png` });
  await p.screenshot({ path: `${REVIEW}/statistics-1366-full.png`, fullPage: true });

  // On a phone: the charts fit the width, nothing scrolls sideways, labels stay large.
  await p.setViewportSize({ width: 360, height: 740 });
  await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "no sideways scroll on a phone");
  const smallest = await view.locator("svg text").evaluateAll((ts) => Math.min(...ts.map((t) => parseFloat(getComputedStyle(t).fontSize))));
  assert.ok(smallest >= 16, `chart labels at least 16 px (smallest ${smallest})`);
  await accessible(p, "the statistics on a phone");
  await p.evaluate(() => document.querySelector("[data-testid=statistics]").scrollIntoView());
  await shot(p, "statistics-360");
  await p.screenshot({ path: `${REVIEW}/statistics-360x740.png` });
  await p.screenshot({ path: `${REVIEW}/statistics-360-full.png`, fullPage: true });
  await p.setViewportSize({ width: 1366, height: 768 });

  // A period without a meeting: a plain sentence, no empty chart.
  await p.getByTestId("report-from").fill("2020-01-01");
  await p.getByTestId("report-to").fill("2020-12-31");
  await view.getByTestId("stats-empty").waitFor();
  assert.equal(await view.locator("svg").count(), 0);
  await p.evaluate(() => document.querySelector("[data-testid=statistics]").scrollIntoView());
  await p.screenshot({ path: `${REVIEW}/statistics-empty-1366x768.png` });
  await accessible(p, "the statistics of an empty period");
  await p.context().close();
});
