// Audio and video: one RTCPeerConnection to the server's SFU, signalled over the room's
// WebSocket (see docs/protocol.md, "Media (WebRTC)"). Publishers (the `publish_media`
// grant) send their microphone and camera, or the microphone only in audio-only mode;
// the audience offers to receive the stage (a video and three audio tracks). The first
// offer is always ours; later the server offers when the tracks to receive change, and
// every signalling step runs on one promise chain, so an answer is done before the next
// offer is looked at. `media_state` says whose each received track is (by `mid`), who
// is heard, who is on the stage and who is speaking.
//
// A lecturer may share a screen or slides (getDisplayMedia): a second video track, sent
// after the camera, whose media section the offer sent to the server marks with
// `a=content:slides` (RFC 4796); starting or stopping a share starts the session over.
import { signal } from "@preact/signals";
import type { ClientMessage } from "../protocol/ClientMessage";
import type { IceServer } from "../protocol/IceServer";
import type { MediaState } from "../protocol/MediaState";
import type { ServerMessage } from "../protocol/ServerMessage";

export type Phase = "off" | "starting" | "connecting" | "connected" | "failed" | "unavailable";
export type Quality = "good" | "fair" | "poor" | "unknown";
/** What went wrong, for the panel to say (keys of i18n). */
export type MediaProblem = "" | "mediaUnavailable" | "mediaFailed" | "captureFailed" | "cameraFailed";

/** The browser pieces the session uses, replaceable in tests. */
export interface MediaDeps {
  send: (msg: ClientMessage) => boolean;
  createPeer: (config: RTCConfiguration) => RTCPeerConnection;
  getUserMedia: (constraints: MediaStreamConstraints) => Promise<MediaStream>;
  enumerateDevices: () => Promise<MediaDeviceInfo[]>;
  makeStream: (tracks: MediaStreamTrack[]) => MediaStream;
  getDisplayMedia?: () => Promise<MediaStream>;
  storage?: Pick<Storage, "getItem" | "setItem">;
}

/** How many stage audio tracks the audience offers to receive (the server's slots). */
export const AUDIENCE_AUDIO_TRACKS = 3;

/** Mark the media section `mid` of an offer as a shared screen (`a=content:slides`). */
export function markSlides(sdp: string, mid: string): string {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  return sdp
    .split(eol)
    .flatMap((line) => (line === `a=mid:${mid}` ? [line, "a=content:slides"] : [line]))
    .join(eol);
}
/** How often the connection quality is measured. */
const STATS_EVERY_MS = 2000;
/** Video sent at most this fast: consultations run on weak networks and old devices. */
const VIDEO_MAX_BITRATE = 600_000;
/**
 * Video goes out in two simulcast layers (low first, as browsers expect): the server
 * forwards the full one to the stage and the half-width one to members' grids, and
 * falls back to whichever still arrives when the browser drops one on a weak link.
 */
export const VIDEO_LAYERS: RTCRtpEncodingParameters[] = [
  { rid: "q", scaleResolutionDownBy: 2, maxBitrate: 150_000 },
  { rid: "f", maxBitrate: VIDEO_MAX_BITRATE },
];

/** One participant's received media, from `media_state` and the tracks by mid. */
export interface Tile {
  participant: string;
  video?: MediaStream;
  audio?: MediaStream;
  videoMid?: string;
  audioMid?: string;
}

/** The members' grid: a tile per participant whose tracks we receive, in `tracks` order. */
export function tiles(state: MediaState | undefined, remote: Record<string, MediaStream>): Tile[] {
  const out: Tile[] = [];
  for (const track of state?.tracks ?? []) {
    if (!track.participant || track.content) continue;
    let tile = out.find((x) => x.participant === track.participant);
    if (!tile) {
      tile = { participant: track.participant };
      out.push(tile);
    }
    if (track.kind === "video") {
      tile.videoMid = track.mid;
      tile.video = remote[track.mid];
    } else {
      tile.audioMid = track.mid;
      tile.audio = remote[track.mid];
    }
  }
  return out;
}

/**
 * What shows the stage: for the audience its stage tracks (tracks without a participant);
 * for a member's grid (the venue projector) the stage participant's video and every
 * audio track (only those the floor lets through carry sound).
 */
export function stageTracks(
  state: MediaState | undefined,
  remote: Record<string, MediaStream>,
): { video?: MediaStream; screen?: MediaStream; audio: Array<{ mid: string; stream: MediaStream }> } {
  const tracks = state?.tracks ?? [];
  const stageOnly = tracks.filter((tr) => !tr.participant);
  const mine = stageOnly.length ? stageOnly : tracks;
  const video = mine.find((tr) => tr.kind === "video" && !tr.content && (stageOnly.length > 0 || tr.participant === state?.stage));
  // The stage's screen: the audience's second video; on a member's grid, the screen of whoever shares on stage.
  const screen = mine.find((tr) => tr.kind === "video" && tr.content === "slides" && (stageOnly.length > 0 || tr.participant === state?.screen));
  return {
    video: video ? remote[video.mid] : undefined,
    screen: screen && state?.screen ? remote[screen.mid] : undefined,
    audio: mine.filter((tr) => tr.kind === "audio" && remote[tr.mid]).map((tr) => ({ mid: tr.mid, stream: remote[tr.mid] })),
  };
}

/** A connection-quality sample: round trip in seconds, share of packets lost (0..1). */
export interface QualitySample {
  rtt?: number;
  loss?: number;
}

export function grade({ rtt, loss }: QualitySample): Quality {
  if (rtt === undefined && loss === undefined) return "unknown";
  const r = rtt ?? 0;
  const l = loss ?? 0;
  if (r <= 0.2 && l <= 0.02) return "good";
  if (r <= 0.5 && l <= 0.08) return "fair";
  return "poor";
}

interface Counters {
  received: number;
  lost: number;
}

/**
 * The round trip of the selected candidate pair, and the packets lost since the last
 * sample: of what we receive (inbound-rtp), else as the server reports for what we send
 * (remote-inbound-rtp).
 */
export function sample(stats: RTCStatsReport | Map<string, Record<string, unknown>>, last: Counters): { sample: QualitySample; counters: Counters } {
  let rtt: number | undefined;
  let received = 0;
  let lost = 0;
  let remoteLoss: number | undefined;
  let selected: string | undefined;
  const all: Array<Record<string, unknown>> = [];
  stats.forEach((s: Record<string, unknown>) => all.push(s));
  for (const s of all) if (s.type === "transport" && typeof s.selectedCandidatePairId === "string") selected = s.selectedCandidatePairId;
  for (const s of all) {
    if (s.type === "candidate-pair" && (s.id === selected || (!selected && s.nominated && s.state === "succeeded")) && typeof s.currentRoundTripTime === "number") {
      rtt = s.currentRoundTripTime;
    }
    if (s.type === "inbound-rtp") {
      received += Number(s.packetsReceived ?? 0);
      lost += Math.max(0, Number(s.packetsLost ?? 0));
    }
    if (s.type === "remote-inbound-rtp" && typeof s.fractionLost === "number") remoteLoss = Math.max(remoteLoss ?? 0, s.fractionLost);
  }
  const dr = received - last.received;
  const dl = lost - last.lost;
  const loss = dr + dl > 20 ? Math.max(0, dl) / (dr + dl) : remoteLoss;
  return { sample: { rtt, loss }, counters: { received, lost } };
}

export class MediaController {
  readonly phase = signal<Phase>("off");
  readonly problem = signal<MediaProblem>("");
  readonly state = signal<MediaState | undefined>(undefined);
  /** Received tracks, each in its own stream, by mid. */
  readonly remote = signal<Record<string, MediaStream>>({});
  /** What we capture (the preview). */
  readonly local = signal<MediaStream | undefined>(undefined);
  readonly micOn = signal(true);
  readonly camOn = signal(true);
  readonly audioOnly = signal(false);
  readonly devices = signal<MediaDeviceInfo[]>([]);
  readonly micId = signal("");
  readonly camId = signal("");
  readonly quality = signal<Quality>("unknown");
  readonly rtt = signal<number | undefined>(undefined);
  readonly loss = signal<number | undefined>(undefined);
  /** Received sound plays (the audience starts muted: browsers block sound without a gesture). */
  readonly soundOn = signal(true);
  /** A media element could not start playing by itself: the user must press play. */
  readonly playBlocked = signal(false);
  /** The loudest speaker once steady for a moment, for a polite announcement. */
  readonly speakerNote = signal<string | undefined>(undefined);
  /** The screen or slides we share (a lecturer), if any. */
  readonly screen = signal<MediaStream | undefined>(undefined);
  /** The session closed: media is over for this room. */
  readonly ended = signal(false);

  /** The peer connection, for tests and debugging (`window.__yishiMedia.pc`). */
  pc?: RTCPeerConnection;
  private gen = 0;
  private chain: Promise<void> = Promise.resolve();
  private awaitingAnswer = false;
  private retried = false;
  private failures = 0;
  private publish = false;
  private audience = false;
  /** A screen that only shows (the venue projector): no capture, sound off at first. */
  private watchOnly = false;
  private configured = false;
  private iceServers: IceServer[] = [];
  private statsTimer?: ReturnType<typeof setInterval>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private counters: Counters = { received: 0, lost: 0 };
  private speakerTimer?: ReturnType<typeof setTimeout>;
  private lastSpoken = new Map<string, number>();
  private candidate?: string;
  /** The user turned media off: do not start it again by ourselves. */
  private userOff = false;
  /** The user (or a gesture) decided about sound before the welcome. */
  private soundChosen = false;

  constructor(private deps: MediaDeps) {
    this.audioOnly.value = deps.storage?.getItem("yishi.audioOnly") === "1";
    this.micId.value = deps.storage?.getItem("yishi.mic") ?? "";
    this.camId.value = deps.storage?.getItem("yishi.cam") ?? "";
  }

  get publishes(): boolean {
    return this.publish;
  }

  /** What the page's model exposes: the signals, and the actions bound. */
  view() {
    return {
      phase: this.phase,
      problem: this.problem,
      state: this.state,
      remote: this.remote,
      local: this.local,
      micOn: this.micOn,
      camOn: this.camOn,
      audioOnly: this.audioOnly,
      devices: this.devices,
      micId: this.micId,
      camId: this.camId,
      quality: this.quality,
      rtt: this.rtt,
      loss: this.loss,
      soundOn: this.soundOn,
      playBlocked: this.playBlocked,
      speakerNote: this.speakerNote,
      screen: this.screen,
      ended: this.ended,
      publishes: () => this.publish,
      canShare: () => this.publish && !!this.deps.getDisplayMedia,
      running: () => this.running,
      ensure: () => this.ensure(),
      start: () => this.start(),
      stop: () => this.stop(),
      standBy: () => this.standBy(),
      toggleMic: () => this.toggleMic(),
      toggleCam: () => this.toggleCam(),
      setAudioOnly: (on: boolean) => this.setAudioOnly(on),
      setSound: (on: boolean) => this.setSound(on),
      choose: (kind: "audioinput" | "videoinput", id: string) => this.choose(kind, id),
      shareScreen: () => this.shareScreen(),
      stopScreen: () => this.stopScreen(true),
    };
  }

  /** Receive only, whatever the grants: for the venue projector. Call before `welcome`. */
  watch(): void {
    this.watchOnly = true;
  }

  get running(): boolean {
    return this.phase.value !== "off" && this.phase.value !== "unavailable";
  }

  /** From a `welcome`: who we are, the ICE servers, and after a reconnect a fresh start. */
  welcome(msg: Extract<ServerMessage, { type: "welcome" }>): void {
    if (msg.ice_servers) this.iceServers = msg.ice_servers;
    const first = !this.configured;
    this.configured = true;
    this.publish = msg.you.grants.includes("publish_media") && !this.watchOnly;
    this.audience = msg.view === "audience";
    if (first && !this.soundChosen) this.soundOn.value = !this.audience && !this.watchOnly;
    // The server ended our media session with the old connection.
    else if (this.running && !this.ended.value) void this.start();
  }

  /** Start unless running, unavailable, ended, or turned off by the user. */
  ensure(): void {
    if (this.configured && !this.userOff && !this.ended.value && this.phase.value === "off") void this.start();
  }

  /** The session closed: end the media session for good, release the devices. */
  end(): void {
    if (this.ended.value) return;
    this.ended.value = true;
    if (this.pc) this.deps.send({ type: "media_stop" });
    this.close();
    this.release();
    this.stopScreen(false);
    this.phase.value = "off";
  }

  /** Share a screen or slides: a second video track, the session starts over with it. */
  async shareScreen(): Promise<boolean> {
    if (!this.deps.getDisplayMedia || !this.publish) return false;
    let stream: MediaStream;
    try {
      stream = await this.deps.getDisplayMedia();
    } catch (e) {
      console.warn("media: no screen to share", e);
      return false;
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return false;
    // Slides: keep text sharp rather than motion smooth.
    if ("contentHint" in track) track.contentHint = "detail";
    track.addEventListener?.("ended", () => {
      if (this.screen.value === stream) this.stopScreen(true);
    });
    this.screen.value = stream;
    if (!this.ended.value) void this.start();
    return true;
  }

  /** Stop sharing; with `restart`, the session starts over without the screen. */
  stopScreen(restart = true): void {
    const stream = this.screen.value;
    if (!stream) return;
    this.screen.value = undefined;
    stream.getTracks().forEach((tr) => tr.stop());
    if (restart && this.running) void this.start();
  }

  /** Handle a media message; false if `msg` is not one. */
  handle(msg: ServerMessage): boolean {
    switch (msg.type) {
      case "media_answer":
        if (!this.awaitingAnswer) return true; // for a session we have already replaced
        this.awaitingAnswer = false;
        this.enqueue(async (pc) => {
          await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
          this.syncRemote(pc);
        });
        return true;
      case "media_offer":
        if (this.awaitingAnswer) return true; // from the session our new offer replaces
        this.enqueue(async (pc) => {
          await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
          const answer = await pc.createAnswer();
          await pc.setLocalDescription(answer);
          this.syncRemote(pc);
          this.deps.send({ type: "media_answer", sdp: pc.localDescription?.sdp ?? answer.sdp ?? "" });
        });
        return true;
      case "media_state": {
        if (this.awaitingAnswer || !this.pc) return true;
        const { type: _, ...state } = msg;
        this.state.value = state;
        this.noteSpeaker(state.speaking[0]);
        return true;
      }
      case "error":
        if (msg.code === "media_unavailable") {
          this.close();
          this.release();
          this.stopScreen(false);
          this.phase.value = this.ended.value ? "off" : "unavailable";
          this.problem.value = this.ended.value ? "" : "mediaUnavailable";
          return true;
        }
        if (msg.code === "media_rejected") {
          console.warn("media rejected:", msg.message);
          this.recover();
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  /** Start (or start over): capture, a new peer connection, our offer. */
  async start(): Promise<void> {
    this.userOff = false;
    this.close();
    const gen = ++this.gen;
    this.phase.value = "starting";
    if (this.problem.value === "mediaFailed" || this.problem.value === "mediaUnavailable") this.problem.value = "";
    const stream = this.publish ? await this.capture() : undefined;
    if (gen !== this.gen) return;
    let pc: RTCPeerConnection;
    try {
      pc = this.deps.createPeer({ iceServers: this.iceServers, bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    } catch (e) {
      console.warn("media: no peer connection", e);
      this.phase.value = "failed";
      this.problem.value = "mediaFailed";
      return;
    }
    this.pc = pc;
    this.chain = Promise.resolve();
    this.remote.value = {};
    this.state.value = undefined;
    this.counters = { received: 0, lost: 0 };
    pc.onconnectionstatechange = () => this.onConnectionState(pc);
    pc.onicecandidate = (ev) => {
      // The server is ICE-lite and learns our address from our checks: only candidates
      // it could not learn that way (a TURN relay, a reflexive address) are worth sending.
      const c = ev.candidate;
      if (pc !== this.pc || !c?.candidate || c.type === "host" || c.address?.endsWith(".local")) return;
      this.deps.send({ type: "media_candidate", candidate: c.candidate });
    };
    pc.ontrack = () => {
      if (pc === this.pc) this.syncRemote(pc);
    };
    try {
      let slides: RTCRtpTransceiver | undefined;
      const screen = this.publish ? this.screen.value?.getVideoTracks()[0] : undefined;
      if (this.audience) {
        // The stage and its shared screen, and the stage's voices.
        pc.addTransceiver("video", { direction: "recvonly" });
        pc.addTransceiver("video", { direction: "recvonly" });
        for (let i = 0; i < AUDIENCE_AUDIO_TRACKS; i++) pc.addTransceiver("audio", { direction: "recvonly" });
      } else if ((stream && stream.getTracks().length) || screen) {
        for (const track of stream?.getTracks() ?? []) {
          const sendEncodings = track.kind === "video" ? VIDEO_LAYERS.map((l) => ({ ...l })) : undefined;
          pc.addTransceiver(track, { direction: "sendonly", streams: [stream!], sendEncodings });
        }
        if (screen && this.screen.value) slides = pc.addTransceiver(screen, { direction: "sendonly", streams: [this.screen.value] });
      } else {
        // Nothing to send (no grant, or no devices): receive what the server offers.
        pc.createDataChannel("yishi");
      }
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      if (gen !== this.gen) return;
      this.awaitingAnswer = true;
      let sdp = pc.localDescription?.sdp ?? offer.sdp ?? "";
      if (slides?.mid) sdp = markSlides(sdp, slides.mid);
      if (!this.deps.send({ type: "media_offer", sdp })) {
        // Not connected: the next welcome starts over.
        this.awaitingAnswer = false;
      }
      this.phase.value = "connecting";
      this.statsTimer = setInterval(() => void this.measure(pc), STATS_EVERY_MS);
    } catch (e) {
      if (gen !== this.gen) return;
      console.warn("media: offer failed", e);
      this.recover();
    }
  }

  /** Turn media off: tell the server, close, release the camera and microphone. */
  stop(): void {
    this.userOff = true;
    if (this.pc) this.deps.send({ type: "media_stop" });
    this.close();
    this.release();
    this.phase.value = "off";
  }

  /**
   * Set media aside without the user asking (the audience watches the livestream
   * instead): end the session and go off; `ensure` starts it again.
   */
  standBy(): void {
    if (this.pc) this.deps.send({ type: "media_stop" });
    this.close();
    this.release();
    this.phase.value = "off";
  }

  /** The page goes away: end the media session (the server would notice anyway). */
  leave(): void {
    if (this.pc) this.deps.send({ type: "media_stop" });
    this.close();
    this.release();
  }

  toggleMic(): void {
    this.micOn.value = !this.micOn.value;
    this.local.value?.getAudioTracks().forEach((tr) => (tr.enabled = this.micOn.value));
  }

  toggleCam(): void {
    this.camOn.value = !this.camOn.value;
    this.local.value?.getVideoTracks().forEach((tr) => (tr.enabled = this.camOn.value));
  }

  /** Audio-only mode (weak networks, old devices): start over without video. */
  setAudioOnly(on: boolean): void {
    this.audioOnly.value = on;
    this.deps.storage?.setItem("yishi.audioOnly", on ? "1" : "0");
    this.release();
    if (this.running) void this.start();
  }

  setSound(on: boolean): void {
    this.soundChosen = true;
    this.soundOn.value = on;
    this.playBlocked.value = false;
  }

  /** Use another microphone or camera: swap the track we send without renegotiating. */
  async choose(kind: "audioinput" | "videoinput", deviceId: string): Promise<void> {
    const audio = kind === "audioinput";
    (audio ? this.micId : this.camId).value = deviceId;
    this.deps.storage?.setItem(audio ? "yishi.mic" : "yishi.cam", deviceId);
    const local = this.local.value;
    const pc = this.pc;
    if (!local || !pc) return;
    const sender = pc.getSenders().find((s) => s.track?.kind === (audio ? "audio" : "video"));
    if (!sender) {
      // We sent no such track (the device was missing at the start): start over with it.
      this.release();
      return void this.start();
    }
    let fresh: MediaStreamTrack | undefined;
    try {
      const got = await this.deps.getUserMedia(audio ? { audio: this.audioConstraints() } : { video: this.videoConstraints() });
      fresh = audio ? got.getAudioTracks()[0] : got.getVideoTracks()[0];
    } catch (e) {
      console.warn("media: device change failed", e);
      return;
    }
    if (!fresh || pc !== this.pc) return fresh?.stop();
    fresh.enabled = audio ? this.micOn.value : this.camOn.value;
    const old = sender.track;
    await sender.replaceTrack(fresh);
    old?.stop();
    const tracks = local.getTracks().filter((tr) => tr !== old);
    this.local.value = this.deps.makeStream([...tracks, fresh]);
  }

  // ----- inside -----

  private enqueue(step: (pc: RTCPeerConnection) => Promise<void>): void {
    const gen = this.gen;
    this.chain = this.chain
      .then(async () => {
        if (gen !== this.gen || !this.pc) return;
        await step(this.pc);
      })
      .catch((e) => {
        if (gen !== this.gen) return;
        console.warn("media: signalling failed", e);
        this.recover();
      });
  }

  /** Something failed: start over once at once, then with a growing pause. */
  private recover(): void {
    clearTimeout(this.retryTimer);
    if (!this.retried) {
      this.retried = true;
      void this.start();
      return;
    }
    this.close();
    this.phase.value = "failed";
    this.problem.value = "mediaFailed";
    this.failures++;
    if (this.failures <= 3) {
      this.retryTimer = setTimeout(() => {
        if (this.phase.value === "failed" && !this.userOff) void this.start();
      }, 2000 * 2 ** this.failures);
    }
  }

  private onConnectionState(pc: RTCPeerConnection): void {
    if (pc !== this.pc) return;
    const s = pc.connectionState;
    if (s === "connected") {
      this.phase.value = "connected";
      this.retried = false;
      this.failures = 0;
      if (this.problem.value === "mediaFailed") this.problem.value = "";
    } else if (s === "failed") {
      this.recover();
    } else if (s === "disconnected" || s === "connecting") {
      if (this.phase.value === "connected") this.phase.value = "connecting";
    }
  }

  /** The received tracks by mid, one stream each (kept while the track stays). */
  private syncRemote(pc: RTCPeerConnection): void {
    if (pc !== this.pc) return;
    const old = this.remote.value;
    const next: Record<string, MediaStream> = {};
    let changed = false;
    for (const tr of pc.getTransceivers()) {
      const mid = tr.mid;
      const dir = tr.currentDirection;
      if (!mid || (dir !== "recvonly" && dir !== "sendrecv")) continue;
      const track = tr.receiver.track;
      const kept = old[mid];
      next[mid] = kept && kept.getTracks()[0] === track ? kept : this.deps.makeStream([track]);
      if (next[mid] !== kept) changed = true;
    }
    if (changed || Object.keys(old).length !== Object.keys(next).length) this.remote.value = next;
  }

  private audioConstraints(): MediaTrackConstraints {
    return { deviceId: this.micId.value ? { ideal: this.micId.value } : undefined, echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  }

  private videoConstraints(): MediaTrackConstraints {
    return { deviceId: this.camId.value ? { ideal: this.camId.value } : undefined, width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 24, max: 30 } };
  }

  /** The microphone and (unless audio-only) the camera; the microphone alone if the camera fails. */
  private async capture(): Promise<MediaStream | undefined> {
    const live = this.local.value;
    const wantVideo = !this.audioOnly.value;
    if (live && live.getTracks().every((tr) => tr.readyState === "live") && live.getAudioTracks().length && (live.getVideoTracks().length > 0) === wantVideo) {
      return live;
    }
    this.release();
    let stream: MediaStream | undefined;
    let problem: MediaProblem = "";
    try {
      stream = await this.deps.getUserMedia({ audio: this.audioConstraints(), video: wantVideo ? this.videoConstraints() : false });
    } catch (e) {
      if (wantVideo) {
        try {
          stream = await this.deps.getUserMedia({ audio: this.audioConstraints() });
          problem = "cameraFailed";
        } catch {
          problem = "captureFailed";
        }
      } else problem = "captureFailed";
      console.warn("media: capture failed", e);
    }
    this.problem.value = problem;
    if (stream) {
      stream.getAudioTracks().forEach((tr) => (tr.enabled = this.micOn.value));
      stream.getVideoTracks().forEach((tr) => (tr.enabled = this.camOn.value));
      this.local.value = stream;
      void this.listDevices();
    }
    return stream;
  }

  async listDevices(): Promise<void> {
    try {
      this.devices.value = (await this.deps.enumerateDevices()).filter((d) => d.deviceId && (d.kind === "audioinput" || d.kind === "videoinput"));
      const local = this.local.value;
      const mic = local?.getAudioTracks()[0]?.getSettings?.().deviceId;
      const cam = local?.getVideoTracks()[0]?.getSettings?.().deviceId;
      if (mic) this.micId.value = mic;
      if (cam) this.camId.value = cam;
    } catch {
      this.devices.value = [];
    }
  }

  /** Close the peer connection; whatever of it is still on the way is ignored. */
  private close(): void {
    this.gen++;
    this.awaitingAnswer = false;
    clearInterval(this.statsTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.speakerTimer);
    this.candidate = undefined;
    const pc = this.pc;
    this.pc = undefined;
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.onicecandidate = null;
      pc.ontrack = null;
      pc.close();
    }
    this.remote.value = {};
    this.state.value = undefined;
    this.quality.value = "unknown";
    this.rtt.value = undefined;
    this.loss.value = undefined;
  }

  /** Stop the camera and microphone. */
  private release(): void {
    this.local.value?.getTracks().forEach((tr) => tr.stop());
    this.local.value = undefined;
  }

  private async measure(pc: RTCPeerConnection): Promise<void> {
    if (pc !== this.pc) return;
    try {
      const stats = await pc.getStats();
      if (pc !== this.pc) return;
      const { sample: s, counters } = sample(stats as unknown as Map<string, Record<string, unknown>>, this.counters);
      this.counters = counters;
      this.rtt.value = s.rtt;
      this.loss.value = s.loss;
      this.quality.value = pc.connectionState === "connected" ? grade(s) : "unknown";
    } catch {
      this.quality.value = "unknown";
    }
  }

  /**
   * Who speaks, for screen readers without chatter: the loudest speaker once steady for
   * a second and a half, and the same person at most every 15 s.
   */
  private noteSpeaker(loudest: string | undefined): void {
    if (loudest === this.candidate) return;
    this.candidate = loudest;
    clearTimeout(this.speakerTimer);
    if (!loudest || loudest === this.speakerNote.value) return;
    this.speakerTimer = setTimeout(() => {
      const now = Date.now();
      if (now - (this.lastSpoken.get(loudest) ?? 0) < 15_000) return;
      this.lastSpoken.set(loudest, now);
      this.speakerNote.value = loudest;
    }, 1500);
  }
}

/** The browser's pieces. */
export function browserDeps(send: (msg: ClientMessage) => boolean): MediaDeps {
  return {
    send,
    createPeer: (config) => new RTCPeerConnection(config),
    getUserMedia: (c) => navigator.mediaDevices.getUserMedia(c),
    enumerateDevices: () => navigator.mediaDevices.enumerateDevices(),
    makeStream: (tracks) => new MediaStream(tracks),
    getDisplayMedia: navigator.mediaDevices?.getDisplayMedia ? () => navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 10, max: 15 } }, audio: false }) : undefined,
    storage: globalThis.localStorage,
  };
}
