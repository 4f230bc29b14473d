// API keys (API 密钥) in the console, in Chromium, as a committee office's admin would
// make one for the committee's platform: a key that may read reports, its secret copied
// from the page once, used by this test (Node's fetch) on an allowed route (200) and a
// route it may not call (403 insufficient_scope), then revoked in the console (after the
// confirm) and refused (401 key_revoked). A clerk has no API keys tab. And a session
// left unused past the idle period (a server with YISHI_STAFF_IDLE=2s) brings back the
// login form with the notice 登录已过期，请重新登录. Screenshots at the office laptop's
// and a phone's size, axe-core.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { accessible, shot, startYishi } from "./harness.mjs";

let env;

before(async () => {
  env = await startYishi({ log: "/dev/null" });
});
after(async () => {
  await env?.stop();
});

/** A call to the API with the key as the bearer: the status and the answer's code. */
async function withKey(key, path, init = {}) {
  const r = await fetch(`${env.base}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers } });
  const body = await r.json().catch(() => ({}));
  return { status: r.status, code: body.code };
}

test("an admin makes a key for reports, copies it once, the key reads reports but cannot make meetings, and once revoked it is refused", async () => {
  const p = await env.staff("王秘书", "admin", { clipboard: true });
  await p.getByTestId("tab-apikeys").click();
  await p.getByTestId("ak-none").waitFor();
  await shot(p, "apikeys-empty-1366x768");
  // No scope ticked: the button waits for one.
  assert.ok(await p.getByTestId("ak-add-submit").isDisabled());
  await p.getByTestId("ak-name").fill("履职平台");
  await p.getByLabel("下载会议记录、会议纪要和履职档案").check();
  await p.getByTestId("ak-expiry").selectOption("90");
  await p.getByTestId("ak-add-submit").click();
  const box = p.getByTestId("ak-secret");
  await box.waitFor();
  assert.match(await box.innerText(), /密钥只显示这一次/);
  await box.getByRole("button", { name: "复制" }).click();
  await box.getByRole("button", { name: "已复制" }).waitFor();
  const key = await p.evaluate(() => navigator.clipboard.readText());
  assert.match(key, /^yk_[A-Za-z0-9_-]{43}$/);
  assert.equal(key, (await box.locator("code").innerText()).trim());
  const row = p.getByTestId("ak-key").filter({ hasText: "履职平台" });
  assert.match(await row.innerText(), /有效[\s\S]*下载会议记录、会议纪要和履职档案[\s\S]*王秘书 创建于[\s\S]*尚未使用[\s\S]*到期/);
  await shot(p, "apikeys-1366x768");
  await accessible(p, "the API keys page with a new key");

  // The key at work: the participation records yes, a new meeting no.
  const allowed = await withKey(key, "/reports/participation?from=2026-01-01&to=2026-12-31&format=csv");
  assert.equal(allowed.status, 200);
  const refused = await withKey(key, "/meetings", { method: "POST", body: JSON.stringify({ title: "不该有的会", starts_at: Date.now() + 3_600_000 }) });
  assert.deepEqual(refused, { status: 403, code: "insufficient_scope" });
  const staffList = await withKey(key, "/staff");
  assert.deepEqual(staffList, { status: 403, code: "forbidden" });

  // The list shows its use once reloaded.
  await p.getByTestId("tab-meetings").click();
  await p.getByTestId("tab-apikeys").click();
  await row.filter({ hasText: "最近使用" }).waitFor();
  await shot(p, "apikeys-list-1366x768");

  await p.setViewportSize({ width: 360, height: 740 });
  await shot(p, "apikeys-360x740");
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "no sideways scroll on a phone");
  await p.setViewportSize({ width: 1366, height: 768 });

  // Revoked (the confirm is accepted): refused from then on.
  await row.getByTestId("ak-revoke").click();
  await p.getByTestId("ak-notice").filter({ hasText: "密钥“履职平台”已撤销" }).waitFor();
  await row.filter({ hasText: "已撤销" }).waitFor();
  assert.equal(await row.getByTestId("ak-revoke").count(), 0);
  assert.deepEqual(await withKey(key, "/reports/participation?from=2026-01-01&to=2026-12-31"), { status: 401, code: "key_revoked" });

  // A clerk: no API keys tab.
  const clerk = await env.staff("李干事", "clerk");
  await clerk.getByTestId("tab-meetings").waitFor();
  assert.equal(await clerk.getByTestId("tab-apikeys").count(), 0);
});

test("a session left unused past the idle period brings back the login form with a notice", async () => {
  const idle = await startYishi({ log: "/dev/null", serverEnv: { YISHI_STAFF_IDLE: "2s" } });
  try {
    const p = await idle.staff("王秘书", "admin");
    await p.getByTestId("tab-roster").click();
    await new Promise((r) => setTimeout(r, 3000));
    await p.getByTestId("tab-apikeys").click();
    const notice = p.getByTestId("session-expired");
    await notice.waitFor();
    assert.equal((await notice.innerText()).trim(), "登录已过期，请重新登录");
    await p.getByTestId("login").waitFor();
    assert.equal(await p.getByTestId("me").count(), 0);
    await shot(p, "session-expired-1366x768");
    await accessible(p, "the login form after the session expired");
    await p.setViewportSize({ width: 360, height: 740 });
    await shot(p, "session-expired-360x740");
    // Logging in again carries on, without the notice.
    await p.getByTestId("login-name").fill("王秘书");
    await p.getByTestId("login-password").fill("一把足够长的钥匙123");
    await p.getByTestId("login-submit").click();
    await p.getByTestId("me").waitFor();
    assert.equal(await p.getByTestId("session-expired").count(), 0);
  } finally {
    await idle.stop();
  }
});
