// Participation records (履职档案) in the console, in Chromium, as a committee office's
// clerk would fetch them: the roster imported through the API with the session's CSRF
// token, the 履职档案 tab opened, the period chosen, the records downloaded as CSV (one
// row per member, the rules' version on each), as an XLSX workbook and as a PDF (one page
// per member, read back with pdftotext); a period that
// ends before it starts is refused on the page. Screenshots at the office laptop's and a
// phone's size, axe-core on each.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { accessible, shot, startYishi } from "./harness.mjs";

const ROSTER = "\ufeff委员编号,姓名,界别,分会场\r\nWY001,王建国,经济界,第一分会场\r\nWY002,李秀英,教育界,第二分会场\r\n";

let env;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

const noSidewaysScroll = (p) => p.evaluate(() => document.documentElement.scrollWidth <= innerWidth);

async function download(p, testid) {
  const [file] = await Promise.all([p.waitForEvent("download"), p.getByTestId(testid).click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), bytes: readFileSync(path), path };
}

test("a clerk downloads the members' participation records for a period", async () => {
  const p = await env.staff("李干事", "clerk", { viewport: { width: 1366, height: 768 } });
  const me = await (await p.request.get(`${env.base}/api/v1/staff/me`)).json();
  const imported = await p.request.post(`${env.base}/api/v1/roster/import?filename=roster.csv`, {
    headers: { "x-csrf-token": me.csrf, "content-type": "text/csv" },
    data: Buffer.from(ROSTER, "utf8"),
  });
  assert.equal(imported.status(), 200, await imported.text());

  await p.getByTestId("tab-reports").click();
  await p.getByTestId("reports").waitFor();
  await p.getByTestId("report-from").fill("2026-01-01");
  await p.getByTestId("report-to").fill("2026-12-31");
  await shot(p, "reports");
  await accessible(p, "the participation records tab");

  const csv = await download(p, "report-csv");
  assert.equal(csv.name, "履职档案-2026-01-01至2026-12-31.csv");
  assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "a BOM");
  const rows = csv.bytes.subarray(3).toString("utf8").trim().split("\r\n");
  assert.match(rows[0], /^委员编号,姓名,界别,分会场,状态,应出席,出席,缺席,/);
  assert.equal(rows.length, 3);
  assert.match(rows[1], /^WY001,王建国,经济界,第一分会场,在册,0,0,0,0,0,0,0,0,0,2026-01-01至2026-12-31,第1版 默认积分规则$/);

  const points = await download(p, "report-points");
  assert.equal(points.name, "积分明细-2026-01-01至2026-12-31.csv");
  assert.match(points.bytes.subarray(3).toString("utf8"), /^委员编号,姓名,项目,积分,说明,时间,会议名称,会议编号,事件序号/);

  const xlsx = await download(p, "report-xlsx");
  assert.equal(xlsx.name, "履职档案-2026-01-01至2026-12-31.xlsx");
  assert.equal(xlsx.bytes.subarray(0, 2).toString("latin1"), "PK", "a zip package");

  // One page per member (一人一档), typeset by the server's PDF worker.
  const pdf = await download(p, "report-pdf");
  assert.equal(pdf.name, "履职档案-2026-01-01至2026-12-31.pdf");
  assert.equal(pdf.bytes.subarray(0, 5).toString("latin1"), "%PDF-");
  const printed = execFileSync("pdftotext", [pdf.path, "-"], { encoding: "utf8" }).replace(/\s+/g, "");
  assert.ok(printed.includes("王建国履职档案"), `the PDF has 王建国's page:\n${printed}`);

  // A period that ends before it starts: said on the page, nothing to download.
  await p.getByTestId("report-to").fill("2025-12-31");
  await p.getByTestId("report-period-problem").waitFor();
  assert.equal(await p.getByTestId("report-csv").getAttribute("href"), null);
  await shot(p, "reports-bad-period");
  await accessible(p, "the tab with a bad period");
  await p.context().close();

  // On a phone: the dates and the buttons fit without sideways scrolling.
  const phone = await env.staff("王干事", "clerk", { viewport: { width: 390, height: 844 } });
  await phone.getByTestId("tab-reports").click();
  await phone.getByTestId("reports").waitFor();
  assert.ok(await noSidewaysScroll(phone), "no sideways scroll on a phone");
  await shot(phone, "reports-phone");
  await accessible(phone, "the tab on a phone");
  await phone.context().close();
});
