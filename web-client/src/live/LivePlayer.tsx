// The audience's livestream player: the stage as HLS (hls.js over Media Source
// Extensions; the browser's own HLS only where there is no MSE, as on older iPhones),
// instead of WebRTC media. It starts muted (browsers block sound until a tap) with a
// large button for sound, tells the delay behind the live edge, and says when it is
// connecting or the stream has ended. For weak networks and older phones (适老化) a
// large toggle switches to the audio-only rendition (仅听声音: the voice alone, 64 kbit/s,
// `audio.m3u8` beside the stage's playlist) and back; the choice is remembered on the
// device. Comments, questions and polls stay on the WebSocket.
import { useEffect, useRef, useState } from "preact/hooks";
import type Hls from "hls.js/light";
import { useApp } from "../app/context";
import { t } from "../i18n";
import { Icon } from "../ui/Icon";

export type PlayerState = "connecting" | "playing" | "ended";

/** How often the delay is read again. */
const DELAY_EVERY_MS = 3000;
/** A playlist not there yet (the first segment comes a few seconds after the start) or a lost network: try again after this. */
const RETRY_MS = 2000;

/** Where the choice of the audio-only rendition is kept on this device. */
const AUDIO_ONLY_KEY = "yishi.liveAudioOnly";

/** The audio-only rendition's playlist, beside the stage's (`…/index.m3u8` → `…/audio.m3u8`). */
export function audioPlaylist(playlist: string): string {
  return playlist.replace(/[^/]*$/, "audio.m3u8");
}

function savedAudioOnly(): boolean {
  try {
    return globalThis.localStorage?.getItem(AUDIO_ONLY_KEY) === "1";
  } catch {
    return false;
  }
}

/** The delay to show, in whole seconds (at least 1), or undefined when not known. */
export function delaySeconds(latency: number | undefined): number | undefined {
  if (latency === undefined || !Number.isFinite(latency) || latency < 0) return undefined;
  return Math.max(1, Math.round(latency));
}

/** Which player a browser gets: hls.js wherever it works, else the browser's own HLS. */
export function playerKind(hlsSupported: boolean, nativeHls: boolean): "hls.js" | "native" | "none" {
  if (hlsSupported) return "hls.js";
  return nativeHls ? "native" : "none";
}

/** `ended`: the stream was stopped (the snapshot no longer has it). */
export function LivePlayer({ playlist, ended }: { playlist?: string; ended: boolean }) {
  const app = useApp();
  const ref = useRef<HTMLVideoElement>(null);
  const [state, setState] = useState<PlayerState>(ended ? "ended" : "connecting");
  const [delay, setDelay] = useState<number | undefined>(undefined);
  const [unsupported, setUnsupported] = useState(false);
  const [audioOnly, setAudioOnly] = useState(savedAudioOnly);
  const soundOn = app.media.soundOn.value && !app.media.playBlocked.value;
  const source = playlist && (audioOnly ? audioPlaylist(playlist) : playlist);

  const toggleAudioOnly = () => {
    const next = !audioOnly;
    setAudioOnly(next);
    try {
      globalThis.localStorage?.setItem(AUDIO_ONLY_KEY, next ? "1" : "0");
    } catch {
      // Not kept (private mode): the choice holds for this page.
    }
  };

  useEffect(() => {
    const video = ref.current;
    if (!video || !source || ended) return;
    const playlist = source;
    setState("connecting");
    let gone = false;
    let hls: Hls | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const play = () => {
      video.muted = !app.media.soundOn.peek();
      video.play()?.catch((e: DOMException) => {
        if (e?.name !== "NotAllowedError" || gone) return;
        // Sound is not allowed yet: play muted, and the button asks for a tap.
        app.media.playBlocked.value = true;
        video.muted = true;
        void video.play()?.catch(() => {});
      });
    };
    const readDelay = () => {
      if (hls) setDelay(delaySeconds(hls.latency || undefined));
      else if (video.seekable.length > 0) setDelay(delaySeconds(video.seekable.end(video.seekable.length - 1) - video.currentTime));
    };
    const onPlaying = () => {
      setState("playing");
      readDelay();
    };
    const onEnded = () => setState("ended");
    video.addEventListener("playing", onPlaying);
    video.addEventListener("ended", onEnded);
    const timer = setInterval(readDelay, DELAY_EVERY_MS);

    const start = async () => {
      const { default: HlsJs } = await import("hls.js/light");
      if (gone) return;
      const kind = playerKind(HlsJs.isSupported(), video.canPlayType("application/vnd.apple.mpegurl") !== "");
      if (kind === "none") return setUnsupported(true);
      if (kind === "native") {
        video.src = playlist;
        play();
        return;
      }
      const connect = () => {
        if (gone) return;
        // No worker: the page's CSP allows scripts from its own origin only.
        const h = new HlsJs({ enableWorker: false, liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 6, lowLatencyMode: false });
        hls = h;
        h.on(HlsJs.Events.MANIFEST_PARSED, play);
        h.on(HlsJs.Events.ERROR, (_e, data) => {
          if (!data.fatal || gone) return;
          if (data.type === HlsJs.ErrorTypes.MEDIA_ERROR) return h.recoverMediaError();
          // The playlist is not there yet, or the network went: start over shortly.
          h.destroy();
          if (hls === h) hls = undefined;
          setState((s) => (s === "ended" ? s : "connecting"));
          retry = setTimeout(connect, RETRY_MS);
        });
        h.loadSource(playlist);
        h.attachMedia(video);
      };
      connect();
    };
    void start();
    return () => {
      gone = true;
      clearInterval(timer);
      clearTimeout(retry);
      video.removeEventListener("playing", onPlaying);
      video.removeEventListener("ended", onEnded);
      hls?.destroy();
      video.removeAttribute("src");
      video.load();
    };
  }, [source, ended]);

  useEffect(() => {
    if (ended) setState("ended");
  }, [ended]);

  // Sound follows the page's sound switch (the control bar has one too).
  useEffect(() => {
    const video = ref.current;
    if (video && state !== "ended") video.muted = !soundOn;
  }, [soundOn, state]);

  const turnSoundOn = () => {
    app.media.setSound(true);
    const video = ref.current;
    if (!video) return;
    video.muted = false;
    void video.play()?.catch(() => {});
  };

  return (
    <div class="stage-main live-player" data-testid="live-player" data-state={state} data-rendition={audioOnly ? "audio" : "stage"}>
      <video ref={ref} class="contain" data-testid="live-video" playsinline muted hidden={state === "ended" || audioOnly} aria-label={t("liveVideo")} />
      {audioOnly && state === "playing" ? (
        <p class="live-audio-only" data-testid="live-audio-note">
          <Icon name="sound" /> {t("liveAudioOnlyNote")}
        </p>
      ) : null}
      {state !== "playing" ? (
        <p class="live-note" role="status" data-testid="live-note">
          {unsupported ? t("liveUnsupported") : state === "ended" ? t("liveEnded") : t("liveConnecting")}
        </p>
      ) : null}
      {state === "playing" ? (
        <p class="live-badge" data-testid="live-delay">
          <span class="live-dot" aria-hidden="true" />
          {t("liveOn")}
          {delay !== undefined ? ` · ${t("liveDelay", { n: delay })}` : ""}
        </p>
      ) : null}
      <div class="live-controls">
        {state === "playing" && !soundOn ? (
          <button class="ctl primary live-sound" data-testid="live-sound" onClick={turnSoundOn}>
            <Icon name="sound" /> {t("liveTapForSound")}
          </button>
        ) : null}
        {state !== "ended" && !unsupported ? (
          <button class="ctl live-rendition" data-testid="live-audio-only" onClick={toggleAudioOnly}>
            <Icon name={audioOnly ? "screen" : "sound"} /> {audioOnly ? t("liveShowVideo") : t("liveAudioOnly")}
          </button>
        ) : null}
      </div>
    </div>
  );
}
