// The control bar: what I can do now. Whether my voice goes out, always in view;
// microphone and camera; asking for the floor by kind, withdrawing, ending my turn;
// devices; leaving. The audience gets sound, text only and leave.
import { useState } from "preact/hooks";
import { useApp, useLink } from "../app/context";
import { t, type Key } from "../i18n";
import type { EntryKind } from "../protocol/EntryKind";
import { SoundButton } from "../media/Video";
import { ErrorNote } from "../ui/ErrorNote";
import { Icon } from "../ui/Icon";

const KINDS: EntryKind[] = ["impromptu", "interjection", "point_of_order"];

/** Whether my voice goes out now, in words (never by colour alone). */
export function LiveState() {
  const app = useApp();
  const s = app.room.value!;
  const me = s.you.id;
  const running = app.media.phase.value === "connected" || app.media.phase.value === "connecting";
  const heard = app.media.state.value?.heard.includes(me) ?? false;
  const holding = s.room.floor?.participant === me;
  const hasMic = (app.media.local.value?.getAudioTracks().length ?? 0) > 0;
  let key: Key;
  let live = false;
  if (!running || !hasMic) key = holding ? "liveNoMedia" : "mediaNotOn";
  else if (!app.media.micOn.value) key = "micIsOff";
  else if (heard) {
    key = holding ? "youAreLive" : "liveHeard";
    live = true;
  } else key = "notHeard";
  return (
    <p class={`live-state ${live ? "on" : ""}`} data-testid="live-state" data-live={live ? "true" : "false"} role="status">
      <span class="dot" aria-hidden="true" />
      {t(key)}
    </p>
  );
}

function MediaButtons() {
  const app = useApp();
  const link = useLink();
  const m = app.media;
  const local = m.local.value;
  return (
    <>
      {local?.getAudioTracks().length ? (
        <button class={`ctl ${m.micOn.value ? "" : "off"}`} data-testid="mic" onClick={() => m.toggleMic()}>
          <Icon name={m.micOn.value ? "mic" : "micOff"} /> {m.micOn.value ? t("micOn") : t("micOffState")}
        </button>
      ) : null}
      {local?.getVideoTracks().length ? (
        <button class={`ctl ${m.camOn.value ? "" : "off"}`} data-testid="camera" onClick={() => m.toggleCam()}>
          <Icon name={m.camOn.value ? "camera" : "cameraOff"} /> {m.camOn.value ? t("camOn") : t("camOffState")}
        </button>
      ) : null}
      {link.lecture && m.canShare() ? (
        m.screen.value ? (
          <button class="ctl on" data-testid="share" onClick={() => m.stopScreen()}>
            <Icon name="screen" /> {t("stopSharing")}
          </button>
        ) : (
          <button class="ctl" data-testid="share" onClick={() => void m.shareScreen()}>
            <Icon name="screen" /> {t("shareScreen")}
          </button>
        )
      ) : null}
    </>
  );
}

function Floor() {
  const app = useApp();
  const s = app.room.value!;
  const [speaker, setSpeaker] = useState("");
  if (!s.you.grants.includes("request_floor") || s.you.grants.includes("manage_floor")) return null;
  const me = s.you.id;
  const mine = s.room.queue.filter((e) => e.participant === me);
  const place = s.room.queue.findIndex((e) => e.participant === me);
  const holding = s.room.floor?.participant === me;
  const venue = s.you.role === "venue";
  return (
    <div class="ctl-group" role="group" aria-label={t("requestToSpeak")}>
      {venue ? (
        <label class="speaker-input">
          <span>{t("speakerName")}</span>
          <input data-testid="speaker-name" value={speaker} maxLength={100} onInput={(e) => setSpeaker((e.target as HTMLInputElement).value)} />
        </label>
      ) : null}
      {holding ? null : KINDS.map((kind) =>
        mine.some((e) => e.kind === kind) ? (
          <button key={kind} class="ctl on" data-testid={`withdraw-${kind}`} onClick={() => app.act({ type: "withdraw", kind }, "request_floor")}>
            <Icon name="hand" /> {t("withdrawKind", { kind: t(`kind_${kind}` as Key) })}
          </button>
        ) : (
          <button key={kind} class={`ctl ${kind === "impromptu" ? "primary" : ""}`} data-testid={`raise-${kind}`} onClick={() => app.act({ type: "request_floor", kind, speaker: venue && speaker.trim() ? speaker.trim() : undefined }, "request_floor")}>
            <Icon name="hand" /> {t(`raise_${kind}` as Key)}
          </button>
        ),
      )}
      {s.you.role === "respondent" && s.room.floor && !holding && !mine.some((e) => e.kind === "reply") ? (
        <button class="ctl" data-testid="raise-reply" onClick={() => app.act({ type: "request_floor", kind: "reply", replying_to: s.room.floor!.id }, "request_floor")}>
          <Icon name="hand" /> {t("raise_reply")}
        </button>
      ) : null}
      {mine.some((e) => e.kind === "reply") ? (
        <button class="ctl on" data-testid="withdraw-reply" onClick={() => app.act({ type: "withdraw", kind: "reply" }, "request_floor")}>
          {t("withdrawKind", { kind: t("kind_reply") })}
        </button>
      ) : null}
      {place >= 0 ? (
        <span class="place" data-testid="my-place">
          {t("myPlace", { n: place + 1 })}
        </span>
      ) : null}
      {holding ? (
        <button class="ctl danger" data-testid="end-my-turn" onClick={() => app.act({ type: "end_turn" }, "end_my_turn")}>
          {t("endMyTurn")}
        </button>
      ) : null}
    </div>
  );
}

function CheckInReminder() {
  const app = useApp();
  const s = app.room.value!;
  const me = s.room.attendance.find((a) => a.participant === s.you.id);
  if (!me || me.checked_in_at || !["in_session", "paused"].includes(s.room.session) || s.view === "host") return null;
  return (
    <button class="ctl" data-testid="check-in" onClick={() => app.act({ type: "check_in" })}>
      {t("checkIn")}
    </button>
  );
}

export function ControlBar() {
  const app = useApp();
  const link = useLink();
  const s = app.room.value!;
  const audience = s.view === "audience";
  const publisher = s.you.grants.includes("publish_media") && !link.projector;
  return (
    <div class="controlbar" role="toolbar" aria-label={t("controls")} data-testid="controlbar">
      {publisher ? <LiveState /> : null}
      <div class="ctl-row">
        {publisher ? <MediaButtons /> : null}
        {audience ? (
          <>
            <SoundButton always={true} />
            <button class="ctl" data-testid="text-only" aria-pressed={app.prefs.textOnly.value} onClick={() => app.setTextOnly(!app.prefs.textOnly.value)}>
              {t("textOnly")}
            </button>
          </>
        ) : null}
        <Floor />
        <CheckInReminder />
        <span class="grow" />
        {publisher ? (
          <button class="ctl" data-testid="devices" onClick={() => app.openDialog("devices")}>
            <Icon name="gear" /> {t("devices")}
          </button>
        ) : null}
        <button class="ctl" data-testid="leave" onClick={() => app.ask({ text: "leaveConfirm", ok: "leave", run: () => app.leave() })}>
          <Icon name="leave" /> {t("leave")}
        </button>
      </div>
      <ErrorNote at={["request_floor", "end_my_turn", "check_in"]} />
    </div>
  );
}
