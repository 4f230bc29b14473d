// The committee office's console in Chromium, as its staff would use it: an admin's
// one-time link from `yishi staff add`, the password set, a wrong then a right login,
// a meeting created and found, the host view opened from it; a clerk invited from the
// console, who sees the meetings but not the staff; logout. Screenshots at the office
// laptop's and a phone's size, axe-core on every screen.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { accessible, shot, startYishi } from "./harness.mjs";

let env;
before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

async function page(viewport = { width: 1366, height: 768 }) {
  const context = await env.browser.newContext({ viewport, locale: "zh-CN", bypassCSP: true });
  const p = await context.newPage();
  p.on("pageerror", (e) => console.error("page error:", e.message));
  return p;
}

async function setPassword(p, link, password) {
  await p.goto(link);
  await p.getByTestId("set-password").waitFor();
  await p.getByTestId("new-password").fill(password);
  await p.getByTestId("repeat-password").fill(password);
  await p.getByTestId("save-password").click();
  await p.getByTestId("login").waitFor();
  assert.match(await p.getByTestId("login").innerText(), /密码已保存/);
}

async function login(p, name, password) {
  await p.getByTestId("login-name").fill(name);
  await p.getByTestId("login-password").fill(password);
  await p.getByTestId("login-submit").click();
}

test("an admin sets a password from the printed link, logs in, creates a meeting and opens its host view; a clerk invited from the console sees no staff page", async () => {
  const link = env.yishi("staff", "add", "王秘书", "--role", "admin");
  assert.match(link, /\/console#set-password=/);
  const admin = await page();
  await admin.goto(link);
  await admin.getByTestId("set-password").waitFor();
  await shot(admin, "console-set-password");
  await accessible(admin, "the set-password screen");
  // Two different passwords: said next to the form, nothing sent.
  await admin.getByTestId("new-password").fill("一把足够长的钥匙123");
  await admin.getByTestId("repeat-password").fill("another password 12");
  await admin.getByTestId("save-password").click();
  await admin.getByText("两次输入的密码不一致").waitFor();
  await setPassword(admin, link, "一把足够长的钥匙123");

  // The link is spent.
  const again = await page();
  await again.goto(link);
  await again.getByTestId("new-password").fill("yet another password");
  await again.getByTestId("repeat-password").fill("yet another password");
  await again.getByTestId("save-password").click();
  await again.getByTestId("problem").filter({ hasText: "已使用或已过期" }).waitFor();
  await again.context().close();

  // A wrong password, in Chinese next to the form; then the right one.
  await login(admin, "王秘书", "wrong password 123");
  await admin.getByTestId("problem").filter({ hasText: "用户名或密码不正确" }).waitFor();
  await shot(admin, "console-login-wrong");
  await accessible(admin, "the login screen with an error");
  await login(admin, "王秘书", "一把足够长的钥匙123");
  await admin.getByTestId("me").filter({ hasText: "王秘书（管理员）" }).waitFor();

  // The room the harness made is listed; a new one is created and found by search.
  await admin.getByTestId("meetings").getByText("浏览器测试协商会").waitFor();
  await admin.getByTestId("meeting-title").fill("老旧小区加装电梯专题协商会");
  await admin.getByTestId("create-meeting").click();
  await admin.getByTestId("meetings").getByText("老旧小区加装电梯专题协商会").waitFor();
  // A lecture (委员讲堂) is offered with its livestream starting with the session; a
  // consultation is not.
  assert.equal(await admin.getByTestId("meeting-livestream").isChecked(), false);
  await admin.getByTestId("meeting-title").fill("委员讲堂：家门口的养老");
  await admin.getByRole("radio", { name: "委员讲堂" }).check();
  assert.equal(await admin.getByTestId("meeting-livestream").isChecked(), true);
  await shot(admin, "console-new-lecture");
  await admin.getByTestId("create-meeting").click();
  await admin.getByTestId("meetings").getByText("委员讲堂：家门口的养老").waitFor();
  await admin.getByTestId("search").fill("电梯");
  await admin.getByTestId("meetings").getByText("浏览器测试协商会").waitFor({ state: "detached" });
  await shot(admin, "console-meetings");
  await accessible(admin, "the meetings page");

  // The host view of the new meeting opens in a tab, as the admin.
  const [host] = await Promise.all([
    admin.context().waitForEvent("page"),
    admin.getByTestId("meetings").getByRole("button", { name: "进入主持人界面" }).click(),
  ]);
  await host.getByTestId("join-name").waitFor();
  assert.match(await host.getByTestId("join-name").innerText(), /王秘书/);
  await host.close();

  // A clerk, invited from the console.
  await admin.getByTestId("tab-staff").click();
  await admin.getByTestId("staff-name").fill("李干事");
  await admin.getByTestId("add-staff-submit").click();
  const clerkLink = (await admin.getByTestId("staff-link").locator("code").innerText()).trim();
  assert.match(clerkLink, /\/console#set-password=/);
  await admin.getByTestId("staff-list").getByText("李干事").waitFor();
  // The audit log below: what the admin just did, and all of it as CSV for Excel/WPS.
  await admin.getByTestId("tab-meetings").click();
  await admin.getByTestId("tab-staff").click();
  const audit = admin.getByTestId("audit-list");
  await audit.getByRole("row").filter({ hasText: "add_staff" }).filter({ hasText: "李干事" }).waitFor();
  await audit.getByRole("row").filter({ hasText: "王秘书" }).filter({ hasText: "老旧小区加装电梯专题协商会" }).first().waitFor();
  const [auditFile] = await Promise.all([admin.waitForEvent("download"), admin.getByTestId("audit-csv").click()]);
  assert.equal(auditFile.suggestedFilename(), "audit-log.csv");
  const auditCsv = readFileSync(await auditFile.path(), "utf8");
  assert.ok(auditCsv.startsWith("\ufeffid,at,time,staff,action,target\n"), auditCsv.slice(0, 80));
  assert.match(auditCsv, /,\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},王秘书,add_staff,李干事/);
  await shot(admin, "console-staff");
  await accessible(admin, "the staff page with the audit log");

  const clerk = await page({ width: 360, height: 740 });
  await setPassword(clerk, clerkLink, "clerk password 123");
  await login(clerk, "李干事", "clerk password 123");
  await clerk.getByTestId("me").filter({ hasText: "李干事（会务人员）" }).waitFor();
  await clerk.getByTestId("meetings").getByText("老旧小区加装电梯专题协商会").waitFor();
  assert.equal(await clerk.getByTestId("tab-staff").count(), 0, "a clerk has no staff page");
  await shot(clerk, "console-clerk-phone");
  await accessible(clerk, "the clerk's meetings on a phone");
  assert.ok(await clerk.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "no sideways scroll at 360 px");

  // Logout ends the session: a reload shows the login.
  await admin.getByTestId("logout").click();
  await admin.getByTestId("login").waitFor();
  await admin.reload();
  await admin.getByTestId("login").waitFor();
  await admin.context().close();
  await clerk.context().close();
});
