// The livestream end to end: the real `yishi` binary, its SFU and its ffmpeg worker,
// Chromium with a fake camera and microphone. A lecture: the lecturer (a host)
// publishes and starts the livestream from the host's 直播 dialog; an audience member on
// a phone gets the HLS player (hls.js) instead of WebRTC — frames advance, the delay is
// told, sound comes on with a tap — and asks a question over the WebSocket while it
// plays, switches to 仅听声音 (the audio-only rendition) and back; the lecturer shares a screen and
// the stream shows it, then the camera again; the host sets an RTMP push target that nothing answers and sees it retrying in
// words; the host ends the stream (asked first): the audience sees 直播已结束 and the
// host gets the recording to download.
//
// Run: `npm run e2e` (after `make web` and `cargo build`); needs ffmpeg. The server's
// log goes to test-results/live-server.log.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { accessible, accessibleInEveryMode, fits, inView, setMode, shot, shots, startYishi } from "./harness.mjs";

const serverLog = join(shots, "live-server.log");
let env;

before(async () => {
  env = await startYishi({
    log: serverLog,
    rustLog: process.env.LIVE_RUST_LOG ?? "warn,yishi=info",
    // No autoplay flag: the audience's player must start muted and ask for a tap.
    chromiumArgs: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
  });
});

after(async () => {
  await env?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The player's video: where it is, its size, whether it has sound. */
function player(page) {
  return page.evaluate(() => {
    const v = document.querySelector("[data-testid=live-video]");
    return v ? { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, muted: v.muted, paused: v.paused, src: v.currentSrc } : null;
  });
}

/** Wait until the player's media has advanced by more than a second; returns its state. */
async function playsOn(page, what) {
  const from = (await player(page)).t;
  await page.waitForFunction(
    (t0) => {
      const v = document.querySelector("[data-testid=live-video]");
      return v && !v.paused && v.currentTime > t0 + 1;
    },
    from,
    { timeout: 30_000 },
  );
  const now = await player(page);
  console.log(`# ${what}: currentTime ${from.toFixed(1)} → ${now.t.toFixed(1)}`);
  return now;
}

/** Wait until the player's picture is mostly `want` ("blue": the shared slides, "green":
 * Chromium's fake camera), read from the video's frames. */
async function untilPicture(page, want, what) {
  try {
    await page.waitForFunction(
      (want) => {
        const v = document.querySelector("[data-testid=live-video]");
        if (!v || !v.videoWidth || v.paused) return false;
        const c = document.createElement("canvas");
        c.width = 32;
        c.height = 18;
        const g = c.getContext("2d");
        g.drawImage(v, 0, 0, 32, 18);
        const d = g.getImageData(0, 0, 32, 18).data;
        let r = 0;
        let gr = 0;
        let b = 0;
        for (let i = 0; i < d.length; i += 4) {
          r += d[i];
          gr += d[i + 1];
          b += d[i + 2];
        }
        return want === "blue" ? b > 1.5 * Math.max(r, gr) : gr > 1.5 * Math.max(r, b);
      },
      want,
      { timeout: 30_000, polling: 250 },
    );
  } catch (e) {
    throw new Error(`${what}: the picture never turned ${want} (${e.message})`);
  }
}

/** Both sizes the brief asks for, shot and without page scroll. */
async function shotsAt(page, name) {
  const original = page.viewportSize();
  for (const size of [
    { width: 360, height: 740 },
    { width: 1366, height: 768 },
  ]) {
    await page.setViewportSize(size);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await shot(page, `${name}-${size.width}x${size.height}`);
    await fits(page, `${name} at ${size.width}x${size.height}`);
  }
  await page.setViewportSize(original);
}

test("a lecture's livestream: the host starts it, a phone plays it as HLS while asking a question, the host ends it and gets the recording", async () => {
  const { open } = env;
  // The lecture is prepared in the console (its API, as the office's form sends it), so
  // that its page there lists the recording at the end.
  const made = await fetch(`${env.base}/api/v1/meetings`, {
    method: "POST",
    headers: { authorization: "Bearer e2e-admin-key-0123456789", "content-type": "application/json" },
    body: JSON.stringify({ title: "委员讲堂", kind: "lecture", starts_at: Date.now() }),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const hall = (await made.json()).id;
  const lectureLink = (role, name, id) => {
    const args = ["token", "--room", hall, "--role", role, "--ttl", "1h"];
    if (name) args.push("--name", name, "--id", id);
    return env.yishi(...args) + "&layout=lecture";
  };
  const host = await open(lectureLink("host", "陈委员", "lecturer"), "live-host");
  const viewer = await open(lectureLink("audience", null, null), "live-audience", { width: 360, height: 740 });
  const H = host.page;
  const V = viewer.page;

  // The lecture opens; the lecturer's camera and microphone reach the SFU.
  await H.getByTestId("start-session").click();
  await H.waitForFunction(() => window.__yishiMedia.phase.value === "connected", null, { timeout: 30_000 });

  // The host starts the livestream from the 直播 dialog.
  await H.getByTestId("open-live").click();
  await H.getByTestId("live-status").filter({ hasText: "未在直播" }).waitFor();
  const started = Date.now();
  await H.getByTestId("live-start").click();
  await H.locator("[data-testid=live-status][data-live=true]").waitFor({ timeout: 15_000 });
  await H.getByTestId("open-live").filter({ hasText: "直播中" }).waitFor();

  // The audience's stage turns into the player: connecting first, then frames.
  await V.getByTestId("live-player").waitFor({ timeout: 15_000 });
  await V.waitForFunction(
    () => {
      const v = document.querySelector("[data-testid=live-video]");
      return v && v.videoWidth > 0 && v.currentTime > 0.5;
    },
    null,
    { timeout: 30_000 },
  );
  const firstFrame = ((Date.now() - started) / 1000).toFixed(1);
  const a = await player(V);
  await sleep(2000);
  const b = await player(V);
  assert.ok(b.t > a.t + 1, `the livestream plays on (currentTime ${a.t} → ${b.t})`);
  assert.ok(b.w > 0 && b.h > 0, `frames have a size (${b.w}×${b.h})`);
  assert.match(b.src, /^blob:/, "played by hls.js through Media Source Extensions");
  // The tap on the join screen's button lets the browser play sound at once; without
  // it (a reload) the player plays muted and asks for a tap.
  if (b.muted) await V.getByTestId("live-sound").waitFor();
  assert.equal(await V.evaluate(() => !!window.__yishiMedia.pc), false, "no WebRTC session for the audience while the livestream plays");
  assert.equal(await V.locator("[data-testid=live-player][data-state=playing]").count(), 1);
  const delay = await V.getByTestId("live-delay").filter({ hasText: /直播延迟约 \d+ 秒/ }).innerText({ timeout: 10_000 });
  console.log(`# first frame on the phone ${firstFrame} s after the start; the player says "${delay.trim()}"`);
  await shotsAt(V, "live-audience-playing");
  await accessibleInEveryMode(V, "the audience's livestream player");

  // Someone who arrives while the stream is on gets the player from the snapshot.
  const late = await open(lectureLink("audience", null, null), "live-audience-late", { width: 1366, height: 768 }, { audit: false });
  await late.page.waitForFunction(() => (document.querySelector("[data-testid=live-video]")?.currentTime ?? 0) > 0.5, null, { timeout: 30_000 });
  assert.equal(await late.page.evaluate(() => !!window.__yishiMedia.pc), false, "the late viewer has no WebRTC session either");
  // A reload skips the join screen: no tap yet, so the browser refuses sound; the
  // player plays muted and asks for the tap.
  await late.page.reload();
  await late.page.waitForFunction(() => (document.querySelector("[data-testid=live-video]")?.currentTime ?? 0) > 0.5, null, { timeout: 30_000 });
  const reloaded = await player(late.page);
  console.log(`# after a reload: muted ${reloaded.muted}`);
  assert.ok(reloaded.muted, "muted without a gesture");
  await late.page.getByTestId("live-sound").filter({ hasText: "点击开启声音" }).waitFor();
  await shot(late.page, "live-audience-reloaded-1366x768");

  // Sound: off from the control bar, the large button asks for it; one tap brings it back.
  if (!b.muted) {
    await V.getByTestId("sound-off").click();
    await V.waitForFunction(() => document.querySelector("[data-testid=live-video]").muted);
  }
  await shot(V, "live-audience-muted-360x740");
  await V.getByTestId("live-sound").filter({ hasText: "点击开启声音" }).click();
  await V.getByTestId("live-sound").waitFor({ state: "detached" });
  assert.equal((await player(V)).muted, false, "sound on after the tap");

  // A question over the WebSocket while the stream plays: accepted (the asker sees it,
  // waiting for the host's review), and the player keeps going.
  await V.getByTestId("tab-questions").click();
  await V.getByTestId("ask").getByRole("textbox").fill("讲座的课件在哪里下载？");
  await V.getByTestId("ask").getByRole("button", { name: "提问" }).click();
  await V.getByTestId("question").filter({ hasText: "讲座的课件在哪里下载？" }).waitFor();
  const c = await player(V);
  assert.ok(c.t > b.t, `still playing while asking (${b.t} → ${c.t})`);
  await shot(V, "live-audience-question-360x740");

  // 仅听声音: the phone switches to the audio-only rendition (the voice alone, for weak
  // networks) and back; the media plays on both ways.
  const [audioList] = await Promise.all([
    V.waitForRequest((r) => r.url().endsWith(`/live/${hall}/audio.m3u8`), { timeout: 15_000 }),
    V.getByTestId("live-audio-only").filter({ hasText: "仅听声音" }).click(),
  ]);
  assert.ok(audioList, "the audio-only playlist is fetched");
  await V.locator("[data-testid=live-player][data-rendition=audio][data-state=playing]").waitFor({ timeout: 30_000 });
  await V.getByTestId("live-audio-note").filter({ hasText: "仅听声音" }).waitFor();
  const audioOnly = await playsOn(V, "audio only");
  assert.equal(audioOnly.w, 0, "no picture in the audio-only rendition");
  assert.equal(audioOnly.muted, false, "its sound on");
  await shotsAt(V, "live-audience-audio-only");
  await accessible(V, "the audience's player, audio only");
  await V.getByTestId("live-audio-only").filter({ hasText: "恢复画面" }).click();
  await V.locator("[data-testid=live-player][data-rendition=stage][data-state=playing]").waitFor({ timeout: 30_000 });
  await V.waitForFunction(() => (document.querySelector("[data-testid=live-video]")?.videoWidth ?? 0) > 0, null, { timeout: 30_000 });
  const back = await playsOn(V, "back to the picture");
  assert.ok(back.w > 0, "the picture is back");
  await H.getByTestId("live-dialog").getByRole("button", { name: "关闭" }).first().click();
  await H.getByTestId("open-moderation").locator(".badge").waitFor();
  await inView(H, ["[data-testid=open-live]"], "the host's 直播 button");
  await shot(H, "live-host-live-1366x768");

  // The lecturer shares a screen (a canvas that keeps drawing blue slides, in place of a
  // real display capture): the stream shows it instead of the green fake camera, and the
  // camera again once sharing stops.
  await H.evaluate(() => {
    navigator.mediaDevices.getDisplayMedia = async () => {
      const c = document.createElement("canvas");
      c.width = 1280;
      c.height = 720;
      const g = c.getContext("2d");
      let n = 0;
      setInterval(() => {
        g.fillStyle = "#1a3cc8";
        g.fillRect(0, 0, 1280, 720);
        g.fillStyle = "#ffffff";
        g.font = "64px sans-serif";
        g.fillText(`幻灯片 ${n++}`, 100, 200);
      }, 100);
      return c.captureStream(10);
    };
  });
  await untilPicture(V, "green", "the camera on the stream");
  const sharing = Date.now();
  await H.getByTestId("share").click();
  await H.getByTestId("share").filter({ hasText: "停止共享" }).waitFor();
  await untilPicture(V, "blue", "the shared screen on the stream");
  const screenAfter = ((Date.now() - sharing) / 1000).toFixed(1);
  await shot(V, "live-audience-screen-360x740");
  const unsharing = Date.now();
  await H.getByTestId("share").click();
  await untilPicture(V, "green", "the camera back on the stream");
  console.log(`# the shared screen on the phone's stream ${screenAfter} s after sharing; the camera back ${((Date.now() - unsharing) / 1000).toFixed(1)} s after it stopped`);

  // A push target nobody answers: the host reads its status in words, then clears it.
  await H.getByTestId("open-live").click();
  await H.getByTestId("push-targets").fill("rtmp://127.0.0.1:9/live/nobody");
  await H.getByTestId("push-save").click();
  await H.getByTestId("push-list").locator("li").filter({ hasText: /连接中|重试中/ }).waitFor();
  await H.getByTestId("push-list").locator("li").filter({ hasText: "重试中：" }).waitFor({ timeout: 15_000 });
  await shotsAt(H, "live-host-dialog");
  await accessible(H, "the host's livestream dialog");
  // The mode switch lies under the dialog's backdrop: pressed without the pointer.
  await setMode(H, "contrast", true, { dispatch: true });
  await accessible(H, "the host's livestream dialog (high contrast)", { enhanced: true });
  await shot(H, "live-host-dialog-contrast-1366x768");
  await setMode(H, "contrast", false, { dispatch: true });
  await H.getByTestId("push-targets").fill("");
  await H.getByTestId("push-save").click();
  await H.getByTestId("push-list").waitFor({ state: "detached" });

  // The host ends the stream, asked first.
  await H.getByTestId("live-stop").click();
  await H.getByTestId("confirm-ok").click();
  await H.locator("[data-testid=live-status][data-live=false]").waitFor({ timeout: 20_000 });
  const rec = H.getByTestId("live-recording");
  await rec.waitFor({ timeout: 20_000 });
  assert.match(await rec.innerText(), /stage-\d+\.ts · [\d.]+ (KB|MB)/, "the recording's name and size");
  const [download] = await Promise.all([H.waitForEvent("download"), H.getByTestId("live-download").click()]);
  assert.match(download.suggestedFilename(), /^stage-\d+\.ts$/);
  const saved = join(shots, "live-recording.ts");
  await download.saveAs(saved);
  const { statSync } = await import("node:fs");
  assert.ok(statSync(saved).size > 10_000, `the downloaded recording has bytes (${statSync(saved).size})`);
  await shotsAt(H, "live-host-stopped");
  await accessible(H, "the host's livestream dialog after the stop");

  // The audience: the stream has ended, said in words; the player let go of it.
  await V.getByTestId("live-note").filter({ hasText: "直播已结束" }).waitFor({ timeout: 15_000 });
  const gone = await V.evaluate(() => {
    const v = document.querySelector("[data-testid=live-video]");
    return { src: v.getAttribute("src"), ready: v.readyState, network: v.networkState, paused: v.paused };
  });
  assert.deepEqual(gone, { src: null, ready: 0, network: 0, paused: true }, "the player let go of the stream");
  await V.getByTestId("tab-questions").click();
  await shotsAt(V, "live-audience-ended");
  await accessible(V, "the audience's stage after the livestream");

  await late.page.getByTestId("live-note").filter({ hasText: "直播已结束" }).waitFor({ timeout: 15_000 });

  // The committee office finds the recording on the lecture's page in the console, with
  // the SHA-256 the record holds, and downloads the same bytes.
  const { createHash } = await import("node:crypto");
  const { readFileSync } = await import("node:fs");
  const hostCopy = createHash("sha256").update(readFileSync(saved)).digest("hex");
  const clerk = await env.staff("录像管理员", "clerk");
  await clerk.goto(`${env.base}/console#meetings/${hall}`);
  const listed = clerk.getByTestId("recording");
  await listed.waitFor();
  assert.equal(await listed.count(), 1, "one recording listed");
  assert.match(await listed.innerText(), /结束的直播 · [\d.]+ (KB|MB)/);
  assert.equal(await clerk.getByTestId("recording-hash").innerText(), hostCopy, "the hash shown is the recording's");
  const [fromConsole] = await Promise.all([clerk.waitForEvent("download"), clerk.getByTestId("recording-download").click()]);
  assert.match(fromConsole.suggestedFilename(), /^stage-\d+\.ts$/);
  const consoleCopy = join(shots, "live-recording-console.ts");
  await fromConsole.saveAs(consoleCopy);
  assert.equal(createHash("sha256").update(readFileSync(consoleCopy)).digest("hex"), hostCopy, "the console's download is the recording");
  // The console's page is a long page (not one screen): no sideways scroll, shot whole.
  for (const size of [{ width: 1366, height: 768 }, { width: 360, height: 740 }]) {
    await clerk.setViewportSize(size);
    assert.ok(await clerk.evaluate(() => document.documentElement.scrollWidth <= innerWidth), `the recordings scroll sideways at ${size.width}`);
    await shot(clerk, `live-console-recordings-${size.width}x${size.height}`);
  }
  await accessible(clerk, "the lecture's page with its recording");
  // Without a session the recording is refused.
  assert.equal((await fetch(`${env.base}/live/${hall}/recordings/${fromConsole.suggestedFilename()}`)).status, 401);
  await clerk.context().close();

  await host.context.close();
  await viewer.context.close();
  await late.context.close();
});
