// The roster of members (委员名册) in the console, in Chromium, as a committee office's
// clerk would use it: a CSV with a bad row is previewed (the error shown with its row,
// confirm disabled, nothing saved), the fixed file imported, members listed and found,
// the office's XLSX (e2e/fixtures/roster.xlsx, made by make-roster-xlsx.mjs) imported
// with one update and one new member, and the roster exported as CSV. Screenshots at the
// office laptop's and a phone's size, axe-core on every screen.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { accessible, shot, startYishi } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));

let env;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

const csv = (text) => ({ name: "委员名册.csv", mimeType: "text/csv", buffer: Buffer.from(`\ufeff${text}`, "utf8") });

const BAD = "委员编号,姓名,界别,分会场,手机\r\nWY001,王建国,经济界,第一分会场,13812345678\r\nWY002,,教育界,第二分会场,13912345678\r\nWY003,赵红梅,医药卫生界,第二分会场,010-87654321\r\n";
const FIXED = BAD.replace("WY002,,", "WY002,李秀英,");

async function choose(p, file) {
  await p.getByTestId("roster-file").setInputFiles(file);
  await p.getByTestId("preview-summary").waitFor();
}

/** A logged-in staff page on the roster tab. */
async function staffPage(name, role, viewport) {
  const p = await env.staff(name, role, { viewport });
  await p.getByTestId("tab-roster").click();
  await p.getByTestId("roster").waitFor();
  return p;
}

const noSidewaysScroll = (p) => p.evaluate(() => document.documentElement.scrollWidth <= innerWidth);

test("a clerk previews a CSV with a bad row, fixes it, imports it and an XLSX, finds members and exports the roster", async () => {
  const p = await staffPage("李干事", "clerk", { width: 1366, height: 768 });
  await p.getByText("名册里还没有委员").waitFor();
  await shot(p, "roster-empty");
  await accessible(p, "the empty roster");

  // A file with a row without a name: the error with its row number, confirm disabled.
  await p.getByTestId("import-roster").click();
  await p.getByTestId("roster-import").waitFor();
  await p.waitForFunction(() => document.activeElement?.id === "import-h"); // focus moves to the import
  await choose(p, csv(BAD));
  assert.match(await p.getByTestId("preview-counts").innerText(), /共 3 行：新增 2 人，更新 0 人，错误 1 行/);
  assert.match(await p.getByTestId("preview-summary").innerText(), /点击“确认导入”之前，不会保存任何内容/);
  assert.match(await p.getByTestId("preview-has-errors").innerText(), /有 1 行有错误/);
  assert.match(await p.getByTestId("preview-summary").innerText(), /第 3 行：缺少姓名/);
  assert.match(await p.getByTestId("preview-row-3").innerText(), /错误[\s\S]*缺少姓名/);
  assert.match(await p.getByTestId("preview-row-2").innerText(), /新增/);
  assert.match(await p.getByTestId("preview-row-2").innerText(), /138\*\*\*\*5678/, "a clerk sees masked phones");
  assert.ok(await p.getByTestId("confirm-import").isDisabled(), "confirm is disabled while errors exist");
  await shot(p, "roster-preview-errors");
  await accessible(p, "the preview with an error");

  // Cancelled: nothing was saved.
  await p.getByTestId("import-cancel").click();
  await p.getByText("名册里还没有委员").waitFor();
  assert.equal(await p.getByTestId("roster-list").count(), 0);

  // The fixed file: no errors, imported.
  await p.getByTestId("import-roster").click();
  await choose(p, csv(FIXED));
  assert.match(await p.getByTestId("preview-counts").innerText(), /新增 3 人，更新 0 人，错误 0 行/);
  assert.ok(await p.getByTestId("confirm-import").isEnabled());
  await shot(p, "roster-preview-ok");
  await p.getByTestId("confirm-import").click();
  const message = p.getByTestId("roster-message");
  await message.filter({ hasText: "导入成功：新增 3 人，更新 0 人。" }).waitFor();
  await p.waitForFunction(() => document.activeElement?.dataset.testid === "roster-message"); // focus on the result
  const list = p.getByTestId("roster-list");
  for (const name of ["王建国", "李秀英", "赵红梅"]) await list.getByText(name).waitFor();
  assert.match(await p.getByTestId("roster-summary").innerText(), /共 3 人，在册 3 人/);

  // The office's XLSX: a title row, a serial number column, 所属联组; WY003 updated, WY004 new.
  await p.getByTestId("import-roster").click();
  await choose(p, { name: "委员名册.xlsx", mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", buffer: readFileSync(join(here, "fixtures/roster.xlsx")) });
  assert.match(await p.getByTestId("preview-counts").innerText(), /共 2 行：新增 1 人，更新 1 人，错误 0 行/);
  assert.match(await p.getByTestId("preview-row-3").innerText(), /更新[\s\S]*WY003[\s\S]*赵红梅[\s\S]*第二联组/);
  assert.match(await p.getByTestId("preview-row-4").innerText(), /新增[\s\S]*WY004[\s\S]*孙立新/);
  assert.match(await p.getByTestId("preview-row-3").innerText(), /分会场原为“第二分会场”/, "what an update changes");
  await shot(p, "roster-preview-xlsx");
  assert.match(await p.getByTestId("preview-summary").innerText(), /这些列不会导入：序号/);
  await p.getByTestId("confirm-import").click();
  await message.filter({ hasText: "导入成功：新增 1 人，更新 1 人。" }).waitFor();
  await list.getByText("孙立新").waitFor();
  await list.getByText("第二联组").waitFor();
  await shot(p, "roster-list");
  await accessible(p, "the roster");

  // A member deactivated, with a way back said; then reactivated.
  await list.getByRole("button", { name: "停用 王建国" }).click();
  await message.filter({ hasText: "已停用：王建国" }).waitFor();
  await p.getByTestId("roster-summary").filter({ hasText: /共 4 人，在册 3 人/ }).waitFor();
  await list.getByRole("button", { name: "恢复 王建国" }).click();
  await message.filter({ hasText: "已恢复：王建国" }).waitFor();

  // Search by sector.
  await p.getByTestId("roster-search").fill("科技");
  await list.getByText("王建国").waitFor({ state: "detached" });
  await list.getByText("孙立新").waitFor();
  await p.getByTestId("roster-search").fill("");
  await list.getByText("王建国").waitFor();

  // Export: UTF-8 with a BOM, the import's columns, phones masked for a clerk.
  const [download] = await Promise.all([p.waitForEvent("download"), p.getByTestId("export-roster").click()]);
  const path = await download.path();
  const bytes = readFileSync(path);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "a BOM");
  const text = bytes.subarray(3).toString("utf8");
  assert.match(text, /^委员编号,姓名,界别,分会场,手机,状态\r\n/);
  assert.match(text, /WY004,孙立新,科技界,第三联组,135\*\*\*\*2222,在册/);
  assert.equal(text.trim().split("\r\n").length, 5);
  await p.context().close();
});

test("an admin's roster and preview on a phone and on the office laptop: whole phones, no sideways scroll", async () => {
  for (const [viewport, suffix] of [
    [{ width: 360, height: 740 }, "phone"],
    [{ width: 1366, height: 768 }, "laptop"],
  ]) {
    const p = await staffPage(`王秘书${suffix}`, "admin", viewport);
    const list = p.getByTestId("roster-list");
    await list.getByText("孙立新").waitFor();
    assert.match(await list.innerText(), /13500002222/, "an admin sees whole phones");
    assert.ok(await noSidewaysScroll(p), `no sideways scroll at ${viewport.width} px`);
    await shot(p, `roster-list-admin-${suffix}`);
    await accessible(p, `the roster on a ${suffix}`);
    await p.getByTestId("import-roster").click();
    await choose(p, csv(BAD));
    await p.getByTestId("preview-has-errors").waitFor();
    assert.ok(await noSidewaysScroll(p), `no sideways scroll in the preview at ${viewport.width} px`);
    await shot(p, `roster-preview-admin-${suffix}`);
    await accessible(p, `the preview on a ${suffix}`);
    // The same preview in English.
    await p.getByRole("button", { name: "English" }).click();
    assert.match(await p.getByTestId("preview-counts").innerText(), /3 rows: 0 new, 2 updated, 1 with errors/);
    assert.match(await p.getByTestId("preview-row-3").innerText(), /Error[\s\S]*The name is missing/);
    await shot(p, `roster-preview-admin-${suffix}-en`);
    await p.getByRole("button", { name: "中文" }).click();
    await p.context().close();
  }
});
