// The media panel: the stage, the others' videos, who is heard and who speaks, the
// microphone and camera controls and the connection quality; and the audience's stage.
import { useEffect, useRef } from "preact/hooks";
import { t, type Key } from "./i18n";
import { stageTracks, tiles, type Quality } from "./media";
import { media, room } from "./store";

/** The participant's display name, from the room's attendance (else the floor, else the id). */
function nameOf(id: string | undefined): string {
  if (!id) return "";
  const r = room.value?.room;
  if (id === room.value?.you.id) return room.value.you.name;
  const floor = r?.floor?.participant === id ? r.floor : undefined;
  if (floor) return floor.speaker ? `${floor.speaker}（${floor.name}）` : floor.name;
  return r?.attendance.find((a) => a.participant === id)?.name ?? id;
}

/** Start playing; if the browser refuses (sound without a gesture), ask the user. */
function play(el: HTMLMediaElement): void {
  const p = el.play();
  p?.catch((e: DOMException) => {
    if (e?.name === "NotAllowedError") media.playBlocked.value = true;
  });
}

export function Video({ stream, participant, label, local = false, big = false }: { stream?: MediaStream; participant: string; label: string; local?: boolean; big?: boolean }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.muted = true; // sound comes from the audio elements
    if (el.srcObject !== (stream ?? null)) {
      el.srcObject = stream ?? null;
      if (stream) play(el);
    }
  }, [stream]);
  return (
    <video
      ref={ref}
      class={`${big ? "big" : ""} ${local ? "local" : ""}`}
      data-participant={participant}
      data-local={local ? "true" : undefined}
      autoplay
      playsinline
      muted
      aria-label={label}
    />
  );
}

function Audio({ stream, mid }: { stream: MediaStream; mid: string }) {
  const ref = useRef<HTMLAudioElement>(null);
  const on = media.soundOn.value;
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (el.srcObject !== stream) el.srcObject = stream;
    el.muted = !on;
    play(el);
  }, [stream, on]);
  return <audio ref={ref} data-mid={mid} autoplay />;
}

/** Sound for the audience (off at first) and for anyone whose browser blocked it. */
function SoundButton() {
  const on = media.soundOn.value;
  if (on && !media.playBlocked.value) return null;
  return (
    <button
      class="primary"
      data-testid="sound"
      onClick={() => {
        media.setSound(true);
        document.querySelectorAll<HTMLMediaElement>("audio, video").forEach((el) => play(el));
      }}
    >
      {t("soundOn")}
    </button>
  );
}

const QUALITY_BARS: Record<Quality, string> = { good: "▂▄▆", fair: "▂▄", poor: "▂", unknown: "…" };

function QualityNote() {
  const q = media.quality.value;
  const rtt = media.rtt.value;
  const loss = media.loss.value;
  const detail = [rtt !== undefined ? `${Math.round(rtt * 1000)} ms` : "", loss !== undefined ? `${t("packetLoss")} ${(loss * 100).toFixed(1)}%` : ""].filter(Boolean).join(" · ");
  return (
    <span class={`quality ${q}`} data-testid="quality" data-quality={q} title={detail}>
      <span aria-hidden="true">{QUALITY_BARS[q]} </span>
      {t("network")}：{t(`quality_${q}` as Key)}
      {detail ? <span class="muted"> ({detail})</span> : null}
    </span>
  );
}

function PhaseNote() {
  const phase = media.phase.value;
  const problem = media.problem.value;
  const text =
    phase === "unavailable" ? t("mediaUnavailable") : phase === "failed" ? t("mediaFailed") : phase === "off" ? t("mediaOff") : phase === "connected" ? t("mediaConnected") : t("mediaConnecting");
  return (
    <p class="row" role="status" data-testid="media-status" data-phase={phase}>
      <span class={phase === "failed" || phase === "unavailable" ? "over-note" : phase === "connected" ? "ok" : "muted"}>{text}</span>
      {problem && problem !== "mediaUnavailable" && problem !== "mediaFailed" ? <span class="over-note">{t(problem)}</span> : null}
      {phase === "failed" ? <button onClick={() => void media.start()}>{t("mediaRetry")}</button> : null}
    </p>
  );
}

/** Who speaks, told politely (the panel debounces it). */
function SpeakerNote() {
  const who = media.speakerNote.value;
  return (
    <p class="sr" aria-live="polite" data-testid="speaker-note">
      {who ? `${nameOf(who)} ${t("speakingNow")}` : ""}
    </p>
  );
}

/** A participant's tile: video (or a name card), whether they are heard, whether they speak. */
function TileView({ participant, video, local = false, big = false }: { participant: string; video?: MediaStream; local?: boolean; big?: boolean }) {
  const state = media.state.value;
  const heard = state?.heard.includes(participant) ?? false;
  const speaking = state?.speaking.includes(participant) ?? false;
  const name = local ? `${nameOf(participant)}（${t("you")}）` : nameOf(participant);
  const hasVideo = !!video && video.getVideoTracks().length > 0 && !(local && !media.camOn.value);
  return (
    <figure class={`tile ${big ? "stage-tile" : ""} ${speaking ? "speaking" : ""}`} data-testid="tile" data-participant={participant} data-heard={heard ? "true" : "false"} data-speaking={speaking ? "true" : "false"}>
      {hasVideo ? <Video stream={video} participant={participant} label={name} local={local} big={big} /> : <div class="novideo" aria-hidden="true">{name.slice(0, 1)}</div>}
      <figcaption>
        <span class="name">{name}</span>
        <span class={`tag ${heard ? "live" : ""}`} data-testid="heard-badge">
          {heard ? t("mediaLive") : t("mutedByFloor")}
        </span>
        {speaking ? <span class="tag speaking-tag">{t("speakingNow")}</span> : null}
        {local && !media.micOn.value ? <span class="tag">{t("micIsOff")}</span> : null}
      </figcaption>
    </figure>
  );
}

function Devices() {
  const list = media.devices.value;
  const pick = (kind: "audioinput" | "videoinput", label: Key, value: string) => {
    const options = list.filter((d) => d.kind === kind);
    if (options.length === 0) return null;
    return (
      <label>
        {t(label)}
        <select data-testid={kind} value={value} onChange={(e) => void media.choose(kind, (e.target as HTMLSelectElement).value)}>
          {options.map((d, i) => (
            <option key={d.deviceId} value={d.deviceId}>
              {d.label || `${t(label)} ${i + 1}`}
            </option>
          ))}
        </select>
      </label>
    );
  };
  return (
    <div class="row">
      {pick("audioinput", "chooseMic", media.micId.value)}
      {media.audioOnly.value ? null : pick("videoinput", "chooseCamera", media.camId.value)}
    </div>
  );
}

function Controls() {
  const local = media.local.value;
  const running = media.running;
  return (
    <>
      <div class="row">
        {local?.getAudioTracks().length ? (
          <button data-testid="mic" onClick={() => media.toggleMic()}>
            {media.micOn.value ? t("micOff") : t("micOnAction")}
          </button>
        ) : null}
        {local?.getVideoTracks().length ? (
          <button data-testid="camera" onClick={() => media.toggleCam()}>
            {media.camOn.value ? t("camOff") : t("camOnAction")}
          </button>
        ) : null}
        <label>
          <input type="checkbox" data-testid="audio-only" checked={media.audioOnly.value} onChange={(e) => media.setAudioOnly((e.target as HTMLInputElement).checked)} /> {t("audioOnly")}
        </label>
        {media.phase.value !== "unavailable" ? (
          <button class="secondary" data-testid="media-toggle" onClick={() => (running ? media.stop() : void media.start())}>
            {running ? t("mediaTurnOff") : t("mediaTurnOn")}
          </button>
        ) : null}
      </div>
      {running && local ? <Devices /> : null}
    </>
  );
}

/** Members, hosts and venues: the stage, the grid, our own preview and the controls. */
export function MediaPanel() {
  useEffect(() => media.ensure(), []);
  const me = room.value!.you.id;
  const state = media.state.value;
  const remote = media.remote.value;
  const grid = tiles(state, remote);
  const stage = state?.stage;
  const local = media.local.value;
  const stageTile = stage === me ? { participant: me, video: local } : grid.find((x) => x.participant === stage);
  const others = grid.filter((x) => x.participant !== stage);
  const audio = grid.filter((x) => x.audio && x.audioMid);
  return (
    <section class="card media" aria-labelledby="media-h" data-testid="media-panel">
      <h2 id="media-h">{t("media")}</h2>
      <PhaseNote />
      <SpeakerNote />
      {media.running ? (
        <>
          <div class="stage" aria-label={t("stage")} role="group">
            {stage && stageTile ? (
              <TileView participant={stage} video={stageTile.video} local={stage === me} big={true} />
            ) : (
              <div class="video empty" role="img" aria-label={t("stageEmpty")} />
            )}
          </div>
          <div class="tiles" role="group" aria-label={t("participantsVideo")}>
            {others.map((x) => (
              <TileView key={x.participant} participant={x.participant} video={x.video} />
            ))}
            {media.publishes && stage !== me && local ? <TileView participant={me} video={local} local={true} /> : null}
          </div>
          {audio.map((x) => (
            <Audio key={x.audioMid} stream={x.audio!} mid={x.audioMid!} />
          ))}
          <SoundButton />
          <p class="row">
            <QualityNote />
          </p>
        </>
      ) : null}
      {media.publishes ? <Controls /> : null}
    </section>
  );
}

/**
 * The stage's video (muted at first, with a button for sound) and its voices: for the
 * audience, and on the venue projector (大屏) over a member's grid.
 */
export function StageView() {
  useEffect(() => media.ensure(), []);
  const state = media.state.value;
  const { video, audio } = stageTracks(state, media.remote.value);
  const who = state?.stage;
  const label = who ? `${t("stage")}：${nameOf(who)}` : t("stage");
  return (
    <>
      {video ? <Video stream={video} participant="stage" label={label} big={true} /> : <div class="video" role="img" aria-label={t("stageEmpty")} />}
      {who ? <p class="speaker-line">{nameOf(who)}</p> : null}
      {audio.map((a) => (
        <Audio key={a.mid} stream={a.stream} mid={a.mid} />
      ))}
      <div class="row">
        <SoundButton />
        {media.soundOn.value && !media.playBlocked.value ? (
          <button class="secondary" data-testid="sound-off" onClick={() => media.setSound(false)}>
            {t("soundOff")}
          </button>
        ) : null}
      </div>
      {media.phase.value === "unavailable" || media.phase.value === "failed" ? <PhaseNote /> : null}
    </>
  );
}
