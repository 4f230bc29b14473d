// Webhooks (消息推送) in the console, in Chromium, as a committee office's admin would
// set them up for the committee's platform: an address of a receiver this test runs
// added for two event types, its secret shown once, "send test" delivered and shown as
// 已送达 in the delivery log (the receiver checks the Standard Webhooks signature with
// that secret), a receiver that answers 500 shown with its answer, then deleted. A clerk
// has no webhooks tab. Screenshots at the office laptop's and a phone's size, axe-core.

import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { accessible, shot, startYishi } from "./harness.mjs";


let env;
let receiver;
/** What the receiver got: { headers, body } in order. */
const received = [];
/** The status the receiver answers with. */
let answer = 204;

before(async () => {
  env = await startYishi({ log: "/dev/null" });
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(answer).end();
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
});
after(async () => {
  await env?.stop();
  receiver?.close();
});

/** Whether a Standard Webhooks signature header holds the HMAC of id.timestamp.body. */
function signed(secret, { headers, body }) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`).digest();
  return String(headers["webhook-signature"])
    .split(" ")
    .some((s) => s.startsWith("v1,") && timingSafeEqual(Buffer.from(s.slice(3), "base64"), expected));
}

test("an admin adds an address, copies its secret, sends a test that arrives signed, sees a failure's answer and deletes it; a clerk has no webhooks tab", async () => {
  const p = await env.staff("王秘书", "admin");
  await p.getByTestId("tab-webhooks").click();
  await p.getByTestId("wh-none").waitFor();
  const url = `http://127.0.0.1:${receiver.address().port}/yishi`;
  await p.getByTestId("wh-url").fill(url);
  // Two of the four event types.
  await p.getByLabel("纪要已生成").uncheck();
  await p.getByLabel("委员签到").uncheck();
  await p.getByTestId("wh-add-submit").click();
  const secretBox = p.getByTestId("wh-secret");
  await secretBox.waitFor();
  assert.match(await secretBox.innerText(), /签名密钥只显示这一次/);
  const secret = (await secretBox.locator("code").innerText()).trim();
  assert.match(secret, /^whsec_/);
  const item = p.getByTestId("wh-list").locator("li");
  assert.equal(await item.count(), 1);
  assert.match(await item.innerText(), /会议开始、会议结束/);
  assert.doesNotMatch(await item.innerText(), /纪要已生成/);
  assert.match(await item.innerText(), /王秘书 添加于/);

  // A test message: delivered, signed with the secret shown.
  await p.getByTestId("wh-test").click();
  await p.getByTestId("wh-notice").filter({ hasText: "测试消息已加入发送队列" }).waitFor();
  const row = p.getByTestId("wh-delivery").first();
  await row.filter({ hasText: "已送达" }).waitFor({ timeout: 20_000 });
  assert.match(await row.innerText(), /测试消息[\s\S]*已送达[\s\S]*1[\s\S]*HTTP 204/);
  assert.equal(received.length, 1);
  assert.equal(JSON.parse(received[0].body).type, "webhook.test");
  assert.ok(signed(secret, received[0]), "the signature verifies with the secret shown");
  await shot(p, "webhooks-1366x768");
  await accessible(p, "the webhooks page with a delivery log");

  // The receiver fails: the log shows its answer and that it will retry.
  answer = 500;
  await p.getByTestId("wh-test").click();
  const failed = p.getByTestId("wh-delivery").filter({ hasText: "HTTP 500" });
  await failed.waitFor({ timeout: 20_000 });
  assert.match(await failed.innerText(), /待发送[\s\S]*将于[\s\S]*重试/);
  await p.setViewportSize({ width: 360, height: 740 });
  await shot(p, "webhooks-360x740");
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "no sideways scroll on a phone");
  await p.setViewportSize({ width: 1366, height: 768 });

  // Deleted (the confirm is accepted): gone with its log.
  await p.getByTestId("wh-delete").click();
  await p.getByTestId("wh-notice").filter({ hasText: "推送地址已删除" }).waitFor();
  await p.getByTestId("wh-none").waitFor();
  assert.equal(await p.getByTestId("wh-log").count(), 0);

  // A clerk: no webhooks tab.
  const clerk = await env.staff("李干事", "clerk");
  await clerk.getByTestId("tab-meetings").waitFor();
  assert.equal(await clerk.getByTestId("tab-webhooks").count(), 0);
});
