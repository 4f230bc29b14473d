// The host's livestream controls (直播): start and stop (stopping asks first), whether it
// is on (from the room's snapshot), the RTMP push targets with each one's status in
// words (read again every 3 s while this is open), and after a stop the recording with
// a download. The routes take the host's own join token as the bearer.
import { signal } from "@preact/signals";
import { useEffect, useMemo, useState } from "preact/hooks";
import { useApp, useLink } from "../app/context";
import { t, type Key } from "../i18n";
import type { Recording } from "../protocol/Recording";
import { Dialog } from "../ui/Dialog";
import { LiveApi, LiveError, MAX_TARGETS, parseTargets, sizeText, validTarget, type PushTarget } from "./api";

const POLL_MS = 3000;

/** The last recording this page's host archived (kept while the dialog is closed). */
const lastRecording = signal<Recording | undefined>(undefined);

/** A refusal in the host's language (never the server's English message). */
export function liveErrorText(code: string): string {
  const known: Record<string, Key> = {
    not_live: "liveErr_not_live",
    no_media: "liveErr_no_media",
    session_closed: "liveErr_session_closed",
    invalid_argument: "liveErr_invalid_argument",
    forbidden: "liveErr_forbidden",
    unauthorized: "liveErr_forbidden",
    network: "liveErr_network",
    not_found: "liveErr_not_found",
    too_many: "liveErr_too_many",
  };
  return t(known[code] ?? "liveErr_internal");
}

/** A push target's status in words. */
export function pushStateText(p: PushTarget): string {
  switch (p.state) {
    case "connecting":
      return t("push_connecting");
    case "live":
      return t("push_live");
    case "retrying":
      return p.error ? t("push_retrying_error", { error: p.error }) : t("push_retrying");
    case "ended":
      return t("push_ended");
  }
}

function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function LiveDialog() {
  const app = useApp();
  const link = useLink();
  const s = app.room.value!;
  const stream = s.room.livestream;
  const live = !!stream;
  const api = useMemo(() => new LiveApi(link.room, link.token), [link.room, link.token]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [pushError, setPushError] = useState<string | undefined>(undefined);
  const [saved, setSaved] = useState(false);
  const [targets, setTargets] = useState<PushTarget[]>([]);
  const [draft, setDraft] = useState<string | undefined>(undefined);
  const recording = lastRecording.value;

  // The push status, every 3 s while the stream is on and this is open.
  useEffect(() => {
    if (!live) return;
    let gone = false;
    const read = () =>
      api.targets().then(
        (list) => {
          if (gone) return;
          setTargets(list);
          setDraft((d) => (d === undefined ? list.map((x) => x.url).join("\n") : d));
        },
        () => {},
      );
    void read();
    const timer = setInterval(read, POLL_MS);
    return () => {
      gone = true;
      clearInterval(timer);
    };
  }, [live, api]);

  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api.start();
    } catch (e) {
      setError(e instanceof LiveError ? e.code : "internal");
    } finally {
      setBusy(false);
    }
  };
  const stop = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.stop();
      if (r.recording) lastRecording.value = r.recording;
      setTargets([]);
      setSaved(false);
    } catch (e) {
      setError(e instanceof LiveError ? e.code : "internal");
    } finally {
      setBusy(false);
    }
  };
  const save = async () => {
    const list = parseTargets(draft ?? "");
    setSaved(false);
    if (list.length > MAX_TARGETS) return setPushError("too_many");
    if (!list.every(validTarget)) return setPushError("invalid_argument");
    setPushError(undefined);
    try {
      setTargets(await api.setTargets(list));
      setSaved(true);
    } catch (e) {
      setPushError(e instanceof LiveError ? e.code : "internal");
    }
  };
  const download = async (file: string) => {
    setError(undefined);
    try {
      const blob = await api.recording(file);
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = file;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      setError(e instanceof LiveError ? e.code : "internal");
    }
  };

  const closed = s.room.session === "closed";
  return (
    <Dialog title={t("livestream")} onClose={() => app.openDialog(undefined)} testid="live-dialog" wide={true}>
      <p class={`live-status ${live ? "on" : ""}`} role="status" data-testid="live-status" data-live={live ? "true" : "false"}>
        <span class="dot" aria-hidden="true" />
        {live ? t("liveSince", { time: clock(stream.since) }) : t("liveOff")}
      </p>
      <div class="dialog-actions start">
        {live ? (
          <button class="danger" data-testid="live-stop" disabled={busy} onClick={() => app.ask({ text: "liveStopConfirm", ok: "liveStop", run: () => void stop() })}>
            {t("liveStop")}
          </button>
        ) : (
          <button class="primary" data-testid="live-start" disabled={busy || closed} onClick={() => void start()}>
            {t("liveStart")}
          </button>
        )}
      </div>
      {error ? (
        <p class="error-note" role="alert" data-testid="live-error">
          {liveErrorText(error)}
        </p>
      ) : null}
      {recording ? (
        <div class="live-recording" data-testid="live-recording">
          <p>
            {t("liveRecording")}
            {t("colon")}
            <span class="mono">{recording.file}</span>
            {` · ${sizeText(recording.bytes)}`}
          </p>
          <button data-testid="live-download" onClick={() => void download(recording.file)}>
            {t("liveDownload")}
          </button>
        </div>
      ) : null}
      <section class="live-push" aria-labelledby="live-push-title">
        <h3 id="live-push-title">{t("pushTitle")}</h3>
        <label class="field">
          <span>{t("pushTargets", { n: MAX_TARGETS })}</span>
          <textarea
            data-testid="push-targets"
            rows={3}
            value={draft ?? ""}
            disabled={!live}
            placeholder="rtmp://"
            onInput={(e) => {
              setDraft((e.target as HTMLTextAreaElement).value);
              setSaved(false);
            }}
          />
        </label>
        {!live ? <p class="muted">{t("pushWhenLive")}</p> : null}
        <div class="dialog-actions start">
          <button data-testid="push-save" disabled={!live} onClick={() => void save()}>
            {t("pushSave")}
          </button>
          {saved ? (
            <span class="muted" role="status">
              {t("pushSaved")}
            </span>
          ) : null}
        </div>
        {pushError ? (
          <p class="error-note" role="alert" data-testid="push-error">
            {liveErrorText(pushError)}
          </p>
        ) : null}
        {targets.length > 0 ? (
          <ul class="push-list" data-testid="push-list">
            {targets.map((p) => (
              <li key={p.url} data-state={p.state}>
                <span class="mono">{p.url}</span>
                <span class={`push-state ${p.state}`} data-testid="push-state">
                  {pushStateText(p)}
                </span>
              </li>
            ))}
          </ul>
        ) : null}
      </section>
    </Dialog>
  );
}
