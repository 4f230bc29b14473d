import { describe, expect, it } from "vitest";
import { grade, markSlides, MediaController, sample, stageTracks, tiles, type MediaDeps } from "./controller";
import type { ClientMessage } from "../protocol/ClientMessage";
import type { MediaState } from "../protocol/MediaState";
import type { ServerMessage } from "../protocol/ServerMessage";

/** A peer connection that records what it is asked, with a step we can hold back. */
class FakePeer {
  log: string[] = [];
  closed = false;
  connectionState = "new";
  localDescription?: { type: string; sdp: string };
  transceivers: Array<{ mid: string | null; currentDirection: string | null; receiver: { track: { kind: string; id: string } } }> = [];
  onconnectionstatechange: (() => void) | null = null;
  onicecandidate: ((ev: { candidate: unknown }) => void) | null = null;
  ontrack: (() => void) | null = null;
  hold?: Promise<void>;
  private n = 0;

  addTransceiver(what: string | { kind: string }, init: { direction: string; sendEncodings?: RTCRtpEncodingParameters[] }) {
    const kind = typeof what === "string" ? what : what.kind;
    const layers = init.sendEncodings?.map((e) => e.rid).join(",");
    this.log.push(`add ${kind} ${init.direction}${layers ? ` ${layers}` : ""}`);
    this.transceivers.push({ mid: null, currentDirection: null, receiver: { track: { kind, id: `t${this.transceivers.length}` } } });
  }
  createDataChannel() {
    this.log.push("datachannel");
  }
  async createOffer() {
    return { type: "offer", sdp: `offer-${++this.n}` };
  }
  async createAnswer() {
    return { type: "answer", sdp: `answer-${++this.n}` };
  }
  async setLocalDescription(d: { type: string; sdp: string }) {
    this.localDescription = d;
    this.log.push(`local ${d.type}`);
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.log.push(`remote ${d.type} ${d.sdp} start`);
    if (this.hold) await this.hold;
    this.log.push(`remote ${d.type} ${d.sdp} done`);
  }
  getTransceivers() {
    return this.transceivers;
  }
  getSenders() {
    return [];
  }
  async getStats() {
    return new Map();
  }
  close() {
    this.closed = true;
  }
}

function setup(opts: { audience?: boolean; capture?: boolean; watch?: boolean; screen?: boolean } = {}) {
  const sent: ClientMessage[] = [];
  const peers: FakePeer[] = [];
  const deps: MediaDeps = {
    send: (m) => {
      sent.push(m);
      return true;
    },
    createPeer: () => {
      const p = new FakePeer();
      peers.push(p);
      return p as unknown as RTCPeerConnection;
    },
    getUserMedia: async () => {
      if (opts.capture === false) throw new DOMException("no", "NotAllowedError");
      const tracks = [{ kind: "audio", enabled: true, readyState: "live", stop() {} }, { kind: "video", enabled: true, readyState: "live", stop() {} }];
      return { getTracks: () => tracks, getAudioTracks: () => tracks.slice(0, 1), getVideoTracks: () => tracks.slice(1) } as unknown as MediaStream;
    },
    enumerateDevices: async () => [],
    getDisplayMedia: opts.screen
      ? async () => {
          const track = { kind: "video", enabled: true, readyState: "live", stop() {}, addEventListener() {} };
          return { getTracks: () => [track], getAudioTracks: () => [], getVideoTracks: () => [track] } as unknown as MediaStream;
        }
      : undefined,
    makeStream: (tracks) => ({ getTracks: () => tracks, getVideoTracks: () => tracks.filter((t) => t.kind === "video") }) as unknown as MediaStream,
  };
  const media = new MediaController(deps);
  if (opts.watch) media.watch();
  const welcome: ServerMessage = {
    type: "welcome",
    protocol: 1,
    session: "s1",
    you: { id: opts.audience ? "a-1" : "m1", name: "x", role: opts.audience ? "audience" : "member", grants: opts.audience ? ["join"] : ["join", "publish_media"] },
    view: opts.audience ? "audience" : "member",
    server_time: 0,
  };
  media.welcome(welcome as Extract<ServerMessage, { type: "welcome" }>);
  return { media, sent, peers, welcome };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("media session", () => {
  it("a publisher offers its microphone and its camera in two layers as sendonly, an audience member the stage as recvonly", async () => {
    const m = setup();
    await m.media.start();
    // Video in two simulcast layers, low first: the grid gets "q", the stage "f".
    expect(m.peers[0].log.slice(0, 2)).toEqual(["add audio sendonly", "add video sendonly q,f"]);
    expect(m.sent).toEqual([{ type: "media_offer", sdp: "offer-1" }]);
    expect(m.media.phase.value).toBe("connecting");

    const v = setup({ audience: true });
    await v.media.start();
    // The stage, its shared screen, and three voices.
    expect(v.peers[0].log.slice(0, 5)).toEqual(["add video recvonly", "add video recvonly", "add audio recvonly", "add audio recvonly", "add audio recvonly"]);
    expect(v.media.soundOn.value).toBe(false);
  });

  it("the projector only watches: no capture, a data channel offer, sound off until asked", async () => {
    const m = setup({ watch: true });
    await m.media.start();
    expect(m.peers[0].log[0]).toBe("datachannel");
    expect(m.media.publishes).toBe(false);
    expect(m.media.soundOn.value).toBe(false);
  });

  it("without devices a member still receives (a data channel offer) and is told why", async () => {
    const m = setup({ capture: false });
    await m.media.start();
    expect(m.peers[0].log[0]).toBe("datachannel");
    expect(m.media.problem.value).toBe("captureFailed");
  });

  it("answers the server's offers one at a time, in order", async () => {
    const m = setup();
    await m.media.start();
    const pc = m.peers[0];
    let release!: () => void;
    pc.hold = new Promise((r) => (release = r));
    m.media.handle({ type: "media_answer", sdp: "a1" });
    m.media.handle({ type: "media_offer", sdp: "o2" });
    await settle();
    expect(pc.log.filter((l) => l.startsWith("remote"))).toEqual(["remote answer a1 start"]);
    pc.hold = undefined;
    release();
    for (let i = 0; i < 10; i++) await settle();
    expect(pc.log.filter((l) => l.startsWith("remote"))).toEqual(["remote answer a1 start", "remote answer a1 done", "remote offer o2 start", "remote offer o2 done"]);
    expect(m.sent.at(-1)).toEqual({ type: "media_answer", sdp: "answer-2" });
  });

  it("ignores offers and state of the session a new offer replaces, until its answer", async () => {
    const m = setup();
    await m.media.start();
    const state: ServerMessage = { type: "media_state", heard: [], speaking: [], tracks: [] };
    expect(m.media.handle({ type: "media_offer", sdp: "stale" })).toBe(true);
    m.media.handle(state);
    await settle();
    expect(m.peers[0].log.some((l) => l.includes("stale"))).toBe(false);
    expect(m.media.state.value).toBeUndefined();
    m.media.handle({ type: "media_answer", sdp: "a1" });
    m.media.handle(state);
    expect(m.media.state.value).toEqual({ heard: [], speaking: [], tracks: [] });
    // A second answer (for nothing we offered) is ignored.
    m.media.handle({ type: "media_answer", sdp: "again" });
    await settle();
    expect(m.peers[0].log.filter((l) => l.includes("again"))).toEqual([]);
  });

  it("media_rejected starts over with a fresh offer once; media_unavailable stops and says so", async () => {
    const m = setup();
    await m.media.start();
    m.media.handle({ type: "error", code: "media_rejected", message: "no" });
    await settle();
    await settle();
    expect(m.peers.length).toBe(2);
    expect(m.peers[0].closed).toBe(true);
    expect(m.sent.filter((s) => s.type === "media_offer").length).toBe(2);
    m.media.handle({ type: "error", code: "media_rejected", message: "no" });
    await settle();
    expect(m.peers.length).toBe(2);
    expect(m.media.phase.value).toBe("failed");

    const u = setup();
    await u.media.start();
    expect(u.media.handle({ type: "error", code: "media_unavailable", message: "off" })).toBe(true);
    expect(u.media.phase.value).toBe("unavailable");
    expect(u.media.problem.value).toBe("mediaUnavailable");
    expect(u.media.local.value).toBeUndefined();
    expect(u.media.handle({ type: "error", code: "forbidden", message: "x" })).toBe(false);
  });

  it("starts over after a reconnect (a second welcome), and media_stop turns it off", async () => {
    const m = setup();
    await m.media.start();
    m.media.welcome(m.welcome as Extract<ServerMessage, { type: "welcome" }>);
    await settle();
    await settle();
    expect(m.peers.length).toBe(2);
    m.media.stop();
    expect(m.sent.at(-1)).toEqual({ type: "media_stop" });
    expect(m.media.phase.value).toBe("off");
    m.media.ensure();
    expect(m.peers.length).toBe(2);
  });

  it("maps received tracks to participants by mid", async () => {
    const m = setup();
    await m.media.start();
    const pc = m.peers[0];
    pc.transceivers.push({ mid: "v1", currentDirection: "recvonly", receiver: { track: { kind: "video", id: "x" } } });
    pc.transceivers.push({ mid: "a1", currentDirection: "recvonly", receiver: { track: { kind: "audio", id: "y" } } });
    pc.transceivers.push({ mid: "old", currentDirection: "inactive", receiver: { track: { kind: "audio", id: "z" } } });
    m.media.handle({ type: "media_answer", sdp: "a" });
    for (let i = 0; i < 5; i++) await settle();
    expect(Object.keys(m.media.remote.value).sort()).toEqual(["a1", "v1"]);
    const state: MediaState = {
      heard: ["m2"],
      stage: "m2",
      speaking: [],
      tracks: [
        { mid: "v1", kind: "video", participant: "m2" },
        { mid: "a1", kind: "audio", participant: "m2" },
      ],
    };
    const grid = tiles(state, m.media.remote.value);
    expect(grid.map((x) => [x.participant, x.videoMid, x.audioMid])).toEqual([["m2", "v1", "a1"]]);
    expect(grid[0].video).toBe(m.media.remote.value.v1);
  });
});

describe("stage and quality", () => {
  it("the audience's stage is the tracks without a participant", () => {
    const remote = { v: {} as MediaStream, a: {} as MediaStream, b: {} as MediaStream };
    const s = stageTracks({ heard: [], speaking: [], tracks: [{ mid: "v", kind: "video" }, { mid: "a", kind: "audio" }, { mid: "b", kind: "audio" }, { mid: "c", kind: "audio" }] }, remote);
    expect(s.video).toBe(remote.v);
    expect(s.audio.map((x) => x.mid)).toEqual(["a", "b"]);
  });

  it("on a member's grid (the projector) the stage is the stage participant's video, with every audio", () => {
    const remote = { v1: {} as MediaStream, v2: {} as MediaStream, a1: {} as MediaStream, a2: {} as MediaStream };
    const tracks = [
      { mid: "v1", kind: "video" as const, participant: "m1" },
      { mid: "a1", kind: "audio" as const, participant: "m1" },
      { mid: "v2", kind: "video" as const, participant: "m2" },
      { mid: "a2", kind: "audio" as const, participant: "m2" },
    ];
    const s = stageTracks({ heard: ["m2"], stage: "m2", speaking: [], tracks }, remote);
    expect(s.video).toBe(remote.v2);
    expect(s.audio.map((x) => x.mid)).toEqual(["a1", "a2"]);
    expect(stageTracks({ heard: [], speaking: [], tracks }, remote).video).toBeUndefined();
  });

  it("grades round trip and loss", () => {
    expect(grade({})).toBe("unknown");
    expect(grade({ rtt: 0.05, loss: 0 })).toBe("good");
    expect(grade({ rtt: 0.3, loss: 0.01 })).toBe("fair");
    expect(grade({ rtt: 0.05, loss: 0.05 })).toBe("fair");
    expect(grade({ rtt: 0.8 })).toBe("poor");
  });

  it("samples the selected pair's round trip and the loss since the last sample", () => {
    const stats = new Map<string, Record<string, unknown>>([
      ["T", { id: "T", type: "transport", selectedCandidatePairId: "P" }],
      ["P", { id: "P", type: "candidate-pair", currentRoundTripTime: 0.04 }],
      ["Q", { id: "Q", type: "candidate-pair", currentRoundTripTime: 0.9 }],
      ["I1", { id: "I1", type: "inbound-rtp", packetsReceived: 190, packetsLost: 10 }],
      ["I2", { id: "I2", type: "inbound-rtp", packetsReceived: 100, packetsLost: 0 }],
    ]);
    const first = sample(stats, { received: 0, lost: 0 });
    expect(first.sample.rtt).toBe(0.04);
    expect(first.sample.loss).toBeCloseTo(10 / 300);
    const second = sample(stats, first.counters);
    expect(second.sample.loss).toBeUndefined();
  });
});

describe("a shared screen and the end of the session", () => {
  it("marks the screen's media section as slides in the offer sent to the server", () => {
    const sdp = "v=0\r\nm=audio 9 X 111\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:2\r\na=sendonly\r\n";
    expect(markSlides(sdp, "2")).toBe("v=0\r\nm=audio 9 X 111\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:2\r\na=content:slides\r\na=sendonly\r\n");
  });

  it("sharing starts the session over with a third track; the session's end stops everything for good", async () => {
    const m = setup({ screen: true });
    await m.media.start();
    expect(await m.media.shareScreen()).toBe(true);
    for (let i = 0; i < 5; i++) await settle();
    expect(m.peers.length).toBe(2);
    expect(m.peers[1].log.filter((l) => l.startsWith("add"))).toEqual(["add audio sendonly", "add video sendonly q,f", "add video sendonly"]);
    m.media.end();
    expect(m.sent.at(-1)).toEqual({ type: "media_stop" });
    expect(m.peers[1].closed).toBe(true);
    expect(m.media.screen.value).toBeUndefined();
    expect(m.media.local.value).toBeUndefined();
    m.media.ensure();
    expect(m.peers.length).toBe(2);
  });
});
