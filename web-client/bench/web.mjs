// `make bench-web`: how fast the audience page comes up on a weak phone. Chromium with
// its CPU slowed 4× and a 3G network emulated through the DevTools protocol (CDP) loads
// the audience link from the real server, cold (no cache) and again (cached assets);
// reported: the gzipped JavaScript of the entry, first contentful paint, the join
// screen rendered and usable (time to interactive), and the meeting view after "enter"
// (WebSocket, welcome, snapshot). Medians of five runs.
//
//   node bench/web.mjs [--md FILE] [--runs N]

import { existsSync, writeFileSync, readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { startYishi } from "../e2e/harness.mjs";

const args = process.argv.slice(2);
const md = args.includes("--md") ? args[args.indexOf("--md") + 1] : undefined;
const runs = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 5;

/** CDP network profiles, as Chrome DevTools and Puppeteer define them. */
const PROFILES = [
  // "Slow 3G" (Puppeteer's PredefinedNetworkConditions, DevTools' preset of that name):
  // 400 ms round trip × 5 of request latency, 500 kbit/s × 0.8 each way.
  { name: "Slow 3G", latency: 2000, down: (500 * 1000) / 8 * 0.8, up: (500 * 1000) / 8 * 0.8 },
  // "Fast 3G" (= DevTools' "Slow 4G"): 150 ms × 3.75, 1.6 Mbit/s × 0.9 down, 750 kbit/s × 0.9 up.
  { name: "Fast 3G", latency: 562.5, down: (1.6 * 1000 * 1000) / 8 * 0.9, up: (750 * 1000) / 8 * 0.9 },
];
const CPU_SLOWDOWN = 4;

const dist = new URL("../dist/assets/", import.meta.url).pathname;
// The audience entry only: the console (console-*.js) is a page of its own.
const js = readdirSync(dist).filter((f) => f.endsWith(".js") && f.startsWith("index-"));
const jsGzip = js.reduce((n, f) => n + gzipSync(readFileSync(dist + f), { level: 9 }).length, 0);
const jsRaw = js.reduce((n, f) => n + readFileSync(dist + f).length, 0);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const env = await startYishi({ log: "/dev/null" });
const url = env.link("audience", null, null);
const results = [];
try {
  for (const profile of PROFILES) {
    for (const cached of [false, true]) {
      const samples = { fcp: [], join: [], meeting: [], bytes: [] };
      const context = await env.browser.newContext({ viewport: { width: 360, height: 740 }, locale: "zh-CN" });
      for (let i = 0; i < runs + (cached ? 1 : 0); i++) {
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.enable");
        await cdp.send("Network.setCacheDisabled", { cacheDisabled: !cached });
        await cdp.send("Emulation.setCPUThrottlingRate", { rate: CPU_SLOWDOWN });
        await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: profile.latency, downloadThroughput: profile.down, uploadThroughput: profile.up });
        let bytes = 0;
        cdp.on("Network.loadingFinished", (e) => (bytes += e.encodedDataLength));
        // When the join screen (the app's first render) appears, by the page's clock.
        await page.addInitScript(() => {
          new MutationObserver((_, obs) => {
            if (document.querySelector("[data-testid=enter]")) {
              window.__joinAt = performance.now();
              obs.disconnect();
            }
          }).observe(document, { childList: true, subtree: true });
        });
        await page.goto(url, { waitUntil: "load", timeout: 60_000 });
        await page.getByTestId("enter").waitFor({ timeout: 60_000 });
        const clickAt = await page.evaluate(() => performance.now());
        await page.getByTestId("enter").click();
        await page.getByTestId("meeting").waitFor({ timeout: 60_000 });
        const t = await page.evaluate((clickAt) => ({
          fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
          join: window.__joinAt,
          meeting: performance.now() - clickAt,
        }), clickAt);
        // The first cached run only fills the cache.
        if (!cached || i > 0) {
          samples.fcp.push(t.fcp);
          samples.join.push(t.join);
          samples.meeting.push(t.meeting);
          samples.bytes.push(bytes);
        }
        await page.close();
      }
      await context.close();
      results.push({ profile: profile.name, cached, fcp: median(samples.fcp), join: median(samples.join), meeting: median(samples.meeting), bytes: median(samples.bytes) });
    }
  }
} finally {
  await env.stop();
}

const ms = (x) => `${Math.round(x).toLocaleString("en")} ms`;
const kb = (x) => `${(x / 1024).toFixed(1)} KiB`;
const rows = results.map((r) => `| ${r.profile} | ${r.cached ? "again (cached)" : "first visit"} | ${kb(r.bytes)} | ${ms(r.fcp)} | ${ms(r.join)} | ${ms(r.meeting)} |`);
const table = [
  `JavaScript of the audience entry: ${kb(jsGzip)} gzipped (${kb(jsRaw)} raw; budget 60 KB gzipped).`,
  "",
  `CPU slowed ${CPU_SLOWDOWN}×, network emulated by CDP, 360×740, medians of ${runs} runs:`,
  "",
  "| network | load | transferred | first contentful paint | join screen usable | meeting view after “enter” |",
  "| --- | --- | --- | --- | --- | --- |",
  ...rows,
].join("\n");
console.log(table);
if (md) {
  // The measured part goes between the markers; the rest of the file is prose kept as written.
  const date = new Date().toISOString().slice(0, 10);
  const profiles = PROFILES.map((p) => `- **${p.name}**: ${p.latency} ms request latency, ${Math.round((p.down * 8) / 1000)} kbit/s down, ${Math.round((p.up * 8) / 1000)} kbit/s up`).join("\n");
  const measured = `<!-- bench-web:start -->\nMeasured ${date}: Debian's Chromium, headless, the real \`yishi\` server on loopback, the anonymous audience link of a room. Network profiles (Chrome DevTools' and Puppeteer's definitions, applied per request by CDP's \`Network.emulateNetworkConditions\`):\n\n${profiles}\n\n${table}\n<!-- bench-web:end -->`;
  const old = existsSync(md) ? readFileSync(md, "utf8") : "";
  const next = old.includes("<!-- bench-web:start -->") ? old.replace(/<!-- bench-web:start -->[\s\S]*<!-- bench-web:end -->/, measured) : `# The audience page on a weak phone (\`make bench-web\`)\n\n${measured}\n`;
  writeFileSync(md, next);
}
