// Links that do not lead into a meeting, each with its own screen and next step in
// zh-CN (no English, no endless "connecting"): a broken or forged link, an expired one,
// one not valid yet, one for a room that does not exist, a server out of reach; and the
// same participant on a second device, which displaces the first.
//
// Depends on the server's side of these codes: `token_not_yet_valid` (a token whose
// nbf/iat lies in the future), `room_not_found` (a valid token for a missing room) and
// `displaced` with close 4005 (a second connection of the same participant).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { accessible, noEnglish, shot, startYishi } from "./harness.mjs";

let env;

before(async () => {
  env = await startYishi();
});

after(async () => {
  await env?.stop();
});

/** Open `url` in a fresh context, pass the join screen if there is one, and wait for the end screen. */
async function endScreen(url, cause, name, { enter = true, timeout = 15_000 } = {}) {
  const context = await env.browser.newContext({ viewport: { width: 1366, height: 768 }, locale: "zh-CN", bypassCSP: true });
  const page = await context.newPage();
  await page.goto(url);
  if (enter) await page.getByTestId("enter").click();
  await page.locator(`[data-testid=end-screen][data-cause=${cause}]`).waitFor({ timeout });
  await shot(page, `link-${name}`);
  await noEnglish(page, `the ${name} screen`);
  await accessible(page, `the ${name} screen`);
  return { context, page };
}

const now = () => Math.floor(Date.now() / 1000);

test("a link without a token, or a forged one, says the link is not valid", async () => {
  const a = await endScreen(`${env.base}/join`, "unauthorized", "missing", { enter: false });
  await a.page.getByText("链接无效").first().waitFor();
  await a.context.close();
  const forged = env.link("member", "张委员", "m1").replace(/token=([^.]+)\.([^.]+)\.(.+)$/, (_, h, p) => `token=${h}.${p}.AAAA`);
  const b = await endScreen(forged, "unauthorized", "forged");
  await b.context.close();
});

test("an expired link tells whom to ask for a new one", async () => {
  const { page, context } = await endScreen(env.mintedLink({ exp: now() - 3600, iat: now() - 7200 }), "token_expired", "expired");
  await page.getByText("请联系会务组重新获取链接").waitFor();
  await context.close();
});

test("a link not valid yet says so and offers to try again (server: token_not_yet_valid)", async () => {
  const { page, context } = await endScreen(env.mintedLink({ iat: now() + 3600, nbf: now() + 3600 }), "token_not_yet_valid", "not-yet-valid");
  await page.getByTestId("retry").waitFor();
  await context.close();
});

test("a valid link for a room that does not exist says the meeting cannot be found (server: room_not_found)", async () => {
  const { page, context } = await endScreen(env.mintedLink({ room: "no-such-room" }), "room_not_found", "room-not-found");
  await page.getByText("找不到这场会议").first().waitFor();
  await context.close();
});

test("a server out of reach: after a bounded time the page says what failed, and retrying gets in", async () => {
  const context = await env.browser.newContext({ viewport: { width: 360, height: 740 }, locale: "zh-CN", bypassCSP: true });
  const page = await context.newPage();
  let blocked = true;
  // The WebSocket goes nowhere while blocked (a network that drops it).
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (!blocked) ws.connectToServer();
  });
  await page.goto(env.link("member", "王委员", "m3"));
  await page.getByTestId("enter").click();
  await page.getByTestId("connecting").waitFor();
  await page.locator("[data-testid=end-screen][data-cause=unreachable]").waitFor({ timeout: 30_000 });
  await shot(page, "link-unreachable");
  await noEnglish(page, "the unreachable screen");
  blocked = false;
  await page.getByTestId("retry").click();
  await page.getByTestId("meeting").waitFor({ timeout: 20_000 });
  await context.close();
});

test("the same member on a second device displaces the first, which may continue there (server: displaced, close 4005)", async () => {
  const url = env.link("member", "赵委员", "m4");
  const first = await env.open(url, "first-device", undefined, { audit: false });
  const second = await env.open(url, "second-device", { width: 360, height: 740 }, { audit: false });
  await first.page.locator("[data-testid=end-screen][data-cause=displaced]").waitFor({ timeout: 15_000 });
  await first.page.getByText("您已在其他设备加入").first().waitFor();
  await shot(first.page, "link-displaced");
  await noEnglish(first.page, "the displaced screen");
  assert.equal(await second.page.getByTestId("meeting").count(), 1, "the second device is in");
  // Continue on the first device: the second is displaced in turn.
  await first.page.getByTestId("continue-here").click();
  await first.page.getByTestId("meeting").waitFor({ timeout: 15_000 });
  await second.page.locator("[data-testid=end-screen][data-cause=displaced]").waitFor({ timeout: 15_000 });
  await first.context.close();
  await second.context.close();
});
