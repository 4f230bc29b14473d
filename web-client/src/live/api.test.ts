import { describe, expect, it } from "vitest";
import { LiveApi, LiveError, parseTargets, sizeText, validTarget } from "./api";
import { audioPlaylist, delaySeconds, playerKind } from "./LivePlayer";

function fakeFetch(status: number, body: unknown, seen: Array<{ url: string; init?: RequestInit }>) {
  return (async (url: string, init?: RequestInit) => {
    seen.push({ url, init });
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  }) as unknown as typeof fetch;
}

describe("the livestream routes as a host calls them", () => {
  it("sends the host's token as the bearer, to the room's path", async () => {
    const seen: Array<{ url: string; init?: RequestInit }> = [];
    const api = new LiveApi("讲堂 1", "tok", fakeFetch(200, { live: true, playlist: "/live/x/index.m3u8" }, seen));
    await api.start();
    expect(seen[0].url).toBe(`/live/${encodeURIComponent("讲堂 1")}`);
    expect(seen[0].init?.method).toBe("POST");
    expect((seen[0].init?.headers as Record<string, string>).Authorization).toBe("Bearer tok");
  });

  it("puts the push targets as JSON and reads their status", async () => {
    const seen: Array<{ url: string; init?: RequestInit }> = [];
    const api = new LiveApi("r", "tok", fakeFetch(200, { targets: [{ url: "rtmp://a/b", state: "live", since: 1, attempts: 1 }] }, seen));
    const list = await api.setTargets(["rtmp://a/b"]);
    expect(list[0].state).toBe("live");
    expect(seen[0].url).toBe("/live/r/push");
    expect(seen[0].init?.method).toBe("PUT");
    expect(JSON.parse(String(seen[0].init?.body))).toEqual({ targets: ["rtmp://a/b"] });
  });

  it("a refusal carries the server's code", async () => {
    const api = new LiveApi("r", "tok", fakeFetch(409, { code: "not_live", message: "not live" }, []));
    await expect(api.setTargets([])).rejects.toEqual(new LiveError("not_live"));
  });

  it("a forbidden call without a code body is forbidden", async () => {
    const api = new LiveApi("r", "tok", (async () => new Response("no", { status: 403 })) as unknown as typeof fetch);
    await expect(api.stop()).rejects.toMatchObject({ code: "forbidden" });
  });
});

describe("push targets typed into the field", () => {
  it("one a line, blanks dropped", () => {
    expect(parseTargets(" rtmp://a/k1 \r\n\n rtmps://b/k2\n")).toEqual(["rtmp://a/k1", "rtmps://b/k2"]);
  });
  it("rtmp:// or rtmps:// without spaces", () => {
    expect(validTarget("rtmp://a/k1")).toBe(true);
    expect(validTarget("rtmps://a/k1")).toBe(true);
    expect(validTarget("http://a/k1")).toBe(false);
    expect(validTarget("rtmp://a/k 1")).toBe(false);
    expect(validTarget("rtmp://")).toBe(false);
  });
});

describe("the player's figures", () => {
  it("the delay in whole seconds, at least one, unknown when not a number", () => {
    expect(delaySeconds(3.4)).toBe(3);
    expect(delaySeconds(3.6)).toBe(4);
    expect(delaySeconds(0.2)).toBe(1);
    expect(delaySeconds(undefined)).toBeUndefined();
    expect(delaySeconds(NaN)).toBeUndefined();
    expect(delaySeconds(-1)).toBeUndefined();
  });
  it("hls.js wherever it works, the browser's own HLS only without it", () => {
    expect(playerKind(true, true)).toBe("hls.js");
    expect(playerKind(false, true)).toBe("native");
    expect(playerKind(false, false)).toBe("none");
  });
  it("sizes in words", () => {
    expect(sizeText(512)).toBe("512 B");
    expect(sizeText(1460008)).toBe("1.4 MB");
  });
});

describe("the audio-only rendition", () => {
  it("is audio.m3u8 beside the stage's playlist", () => {
    expect(audioPlaylist("/live/forum/index.m3u8")).toBe("/live/forum/audio.m3u8");
    expect(audioPlaylist("https://cdn.example.cn/live/%E8%AE%B2/index.m3u8")).toBe("https://cdn.example.cn/live/%E8%AE%B2/audio.m3u8");
  });
});
