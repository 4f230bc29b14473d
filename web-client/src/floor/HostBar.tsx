// The host's "run the meeting" controls, on the first screen: the session, the floor
// (grant next, end turn, pause/resume the clock, ±1 minute, shorten all, floor mode),
// and the panels that open in dialogs (a new vote, moderation, settings).
import { useApp } from "../app/context";
import { t } from "../i18n";
import type { Command } from "../protocol/Command";
import { ErrorNote } from "../ui/ErrorNote";
import { grantWithCare } from "./grant";

const AT = "host_bar";

export function HostBar() {
  const app = useApp();
  const s = app.room.value!;
  const r = s.room;
  const run = (command: Command) => app.act(command, AT);
  const floor = r.floor;
  const live = r.session === "in_session";
  const pending = r.comments.filter((c) => c.status === "pending").length + r.questions.filter((q) => q.status === "pending").length;
  return (
    <div class="hostbar" role="toolbar" aria-label={t("hostControls")} data-testid="hostbar">
      <div class="ctl-row">
        {r.session === "scheduled" ? (
          <button class="ctl" data-testid="open-check-in" onClick={() => run({ type: "open_check_in" })}>
            {t("openCheckIn")}
          </button>
        ) : null}
        {r.session === "scheduled" || r.session === "check_in" ? (
          <button class="ctl primary" data-testid="start-session" onClick={() => run({ type: "start_session" })}>
            {t("startSession")}
          </button>
        ) : null}
        {live ? (
          <>
            <button class="ctl primary" data-testid="grant-next" disabled={r.queue.length === 0} onClick={() => r.queue[0] && grantWithCare(app, r.queue[0], true, AT)}>
              {t("grantNext")}
            </button>
            {floor ? (
              <>
                <button class="ctl" data-testid="end-turn" onClick={() => run({ type: "end_turn" })}>
                  {t("endTurn")}
                </button>
                {floor.running_since !== undefined ? (
                  <button class="ctl" data-testid="pause-turn" onClick={() => run({ type: "pause_turn" })}>
                    {t("pauseTurn")}
                  </button>
                ) : (
                  <button class="ctl" data-testid="resume-turn" onClick={() => run({ type: "resume_turn" })}>
                    {t("resumeTurn")}
                  </button>
                )}
                <button class="ctl" data-testid="extend" aria-label={t("extendLong")} onClick={() => run({ type: "extend_turn", seconds: 60 })}>
                  {t("extend")}
                </button>
                <button class="ctl" data-testid="shorten" aria-label={t("shortenLong")} onClick={() => run({ type: "shorten_turn", seconds: 60 })}>
                  {t("shorten")}
                </button>
              </>
            ) : null}
            <button class="ctl" data-testid="shorten-all" onClick={() => run({ type: "shorten_all", limit_s: 180 })}>
              {t("shortenAll")}
            </button>
          </>
        ) : null}
        <div class="segmented" role="group" aria-label={t("floorMode")}>
          {(["moderated", "open_discussion"] as const).map((mode) => (
            <button key={mode} class="ctl" data-testid={`mode-${mode}`} aria-pressed={r.floor_mode === mode} onClick={() => run({ type: "set_floor_mode", mode })}>
              {t(mode === "moderated" ? "moderated" : "openDiscussion")}
            </button>
          ))}
        </div>
        <span class="grow" />
        <button class="ctl" data-testid="open-poll-builder" onClick={() => app.openDialog("poll_builder")}>
          {t("polls")}
        </button>
        <button class="ctl" data-testid="open-moderation" onClick={() => app.openDialog("moderation")}>
          {t("moderation")}
          {pending ? <span class="badge">{pending}</span> : null}
        </button>
        {r.session !== "closed" ? (
          <button class={`ctl ${r.livestream ? "on" : ""}`} data-testid="open-live" onClick={() => app.openDialog("live")}>
            {r.livestream ? t("liveOnShort") : t("livestream")}
          </button>
        ) : null}
        <button class="ctl" data-testid="open-settings" onClick={() => app.openDialog("settings")}>
          {t("settings")}
        </button>
        {r.session === "in_session" ? (
          <button class="ctl" data-testid="pause-session" onClick={() => run({ type: "pause_session" })}>
            {t("pauseSession")}
          </button>
        ) : null}
        {r.session === "paused" ? (
          <button class="ctl primary" data-testid="resume-session" onClick={() => run({ type: "resume_session" })}>
            {t("resumeSession")}
          </button>
        ) : null}
        <button class="ctl danger" data-testid="close-session" onClick={() => app.ask({ text: "closeConfirm", ok: "closeSession", run: () => void run({ type: "close_session" }) })}>
          {t("closeSession")}
        </button>
      </div>
      <ErrorNote at={AT} />
    </div>
  );
}
