// Media elements: a video (muted: sound comes from the audio elements), the audio of
// whoever is heard, and the button for sound when the browser blocked it.
import { useEffect, useRef, useState } from "preact/hooks";
import { useApp } from "../app/context";
import { t } from "../i18n";
import { stageTracks, tiles } from "./controller";
import { Icon } from "../ui/Icon";

type MediaView = ReturnType<typeof useApp>["media"];

/** Start playing; if the browser refuses (sound without a gesture), ask the user. */
function play(el: HTMLMediaElement, media: MediaView): void {
  const p = el.play();
  p?.catch((e: DOMException) => {
    if (e?.name === "NotAllowedError") media.playBlocked.value = true;
  });
}

export function Video({ stream, participant, label, local = false, fit = "contain", testid }: { stream?: MediaStream; participant: string; label: string; local?: boolean; fit?: "contain" | "cover"; testid?: string }) {
  const app = useApp();
  const ref = useRef<HTMLVideoElement>(null);
  // Until its first frame is decoded a video stays transparent, so what lies beneath it
  // (the speaker's name card) shows instead of a black box.
  const [framed, setFramed] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.muted = true;
    if (el.srcObject !== (stream ?? null)) {
      el.srcObject = stream ?? null;
      setFramed(el.videoWidth > 0);
      if (stream) play(el, app.media);
    }
  }, [stream]);
  return (
    <video
      ref={ref}
      class={`${local ? "local" : ""} ${fit} ${framed ? "" : "noframe"}`}
      data-participant={participant}
      data-local={local ? "true" : undefined}
      data-testid={testid}
      autoplay
      playsinline
      muted
      aria-label={label}
      onLoadedData={() => setFramed(true)}
      onResize={() => setFramed(true)}
    />
  );
}

function Audio({ stream, mid }: { stream: MediaStream; mid: string }) {
  const app = useApp();
  const ref = useRef<HTMLAudioElement>(null);
  const on = app.media.soundOn.value;
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (el.srcObject !== stream) el.srcObject = stream;
    el.muted = !on;
    play(el, app.media);
  }, [stream, on]);
  return <audio ref={ref} data-mid={mid} autoplay />;
}

/** The sound of the meeting: each received audio track (the server forwards only those heard). */
export function MeetingAudio({ stage }: { stage: boolean }) {
  const app = useApp();
  const state = app.media.state.value;
  const remote = app.media.remote.value;
  const list = stage
    ? stageTracks(state, remote).audio
    : tiles(state, remote)
        .filter((x) => x.audio && x.audioMid)
        .map((x) => ({ mid: x.audioMid!, stream: x.audio! }));
  return (
    <div class="sr">
      {list.map((a) => (
        <Audio key={a.mid} stream={a.stream} mid={a.mid} />
      ))}
    </div>
  );
}

/** Sound for the audience (off at first) and for anyone whose browser blocked it. */
export function SoundButton({ always = false }: { always?: boolean }) {
  const app = useApp();
  const on = app.media.soundOn.value && !app.media.playBlocked.value;
  if (on && !always) return null;
  return (
    <button
      class={on ? "ctl" : "ctl primary"}
      data-testid={on ? "sound-off" : "sound"}
      onClick={() => {
        if (on) return app.media.setSound(false);
        app.media.setSound(true);
        document.querySelectorAll<HTMLMediaElement>("audio, video").forEach((el) => play(el, app.media));
      }}
    >
      <Icon name={on ? "soundOff" : "sound"} /> {on ? t("soundOff") : t("soundOn")}
    </button>
  );
}
