// Before the session opens: what the meeting is, its agenda, who I am here, check-in,
// and a look at my own camera (members and hosts may test media among themselves; the
// server forwards nothing to the audience or projectors yet).
import { useState } from "preact/hooks";
import { useApp } from "../app/context";
import { details } from "../app/people";
import { t, type Key } from "../i18n";
import { Video } from "../media/Video";
import { ErrorNote } from "../ui/ErrorNote";

export function WaitingRoom({ publisher }: { publisher: boolean }) {
  const app = useApp();
  const s = app.room.value!;
  const r = s.room;
  const me = r.attendance.find((a) => a.participant === s.you.id);
  const local = app.media.local.value;
  const host = s.view === "host";
  const venue = s.you.role === "venue";
  const [heads, setHeads] = useState("");
  return (
    <div class="waiting" data-testid="waiting-room">
      <div class="waiting-text">
        <p class="waiting-state" data-testid="session-state" role="status">
          {t(`state_${r.session}` as Key)}
          {" · "}
          {t(s.view === "audience" ? "waitAudience" : host ? "waitHost" : "waitMember")}
        </p>
        <h2 class="waiting-title">{r.title}</h2>
        {s.view !== "audience" ? (
          <p class="waiting-me">
            {t("youAre", { name: s.you.name })}
            {details(s.you) ? ` · ${details(s.you)}` : ""}
          </p>
        ) : null}
        {r.agenda.length ? (
          <>
            <h3>{t("agenda")}</h3>
            <ol class="agenda">
              {r.agenda.map((i) => (
                <li key={i.id} aria-current={i.id === r.current_item ? "step" : undefined}>
                  {i.title}
                </li>
              ))}
            </ol>
          </>
        ) : null}
        {r.session === "check_in" && me && s.view !== "audience" ? (
          me.checked_in_at ? (
            <p class="ok" role="status" data-testid="checked-in">
              ✓ {t("checkedIn")}
            </p>
          ) : (
            <>
              {venue ? (
                <label class="field heads">
                  <span>{t("headCountInput")}</span>
                  <input type="number" min={0} max={100000} data-testid="head-count" value={heads} onInput={(e) => setHeads((e.target as HTMLInputElement).value)} />
                </label>
              ) : null}
              <button class="primary big" data-testid="check-in" onClick={() => app.act({ type: "check_in", head_count: venue && heads ? Number(heads) : undefined })}>
                {t("checkIn")}
              </button>
              <ErrorNote at="check_in" />
            </>
          )
        ) : null}
      </div>
      {publisher ? (
        <div class="waiting-media">
          {local && local.getVideoTracks().length && app.media.camOn.value ? (
            <Video stream={local} participant={s.you.id} label={t("myPreview")} local={true} />
          ) : (
            <div class="preview-off">{t(local ? "cameraOffPreview" : "noDevicePreview")}</div>
          )}
          <p class="muted small">{t("deviceTestNote")}</p>
        </div>
      ) : null}
    </div>
  );
}
