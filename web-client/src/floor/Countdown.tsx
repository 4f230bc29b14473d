// The floor holder's countdown, kept by the server and shown with the clock offset.
import { useApp } from "../app/context";
import { clock, remaining } from "../app/clock";
import { t } from "../i18n";
import type { Turn } from "../protocol/Turn";

export function Countdown({ turn, class: cls = "" }: { turn: Turn; class?: string }) {
  const app = useApp();
  const warning = (app.room.value?.room.settings.warning_s ?? 60) * 1000;
  const left = remaining(turn, app.serverNow.value);
  const state = left < 0 ? "over" : turn.warned || left <= warning ? "warn" : "";
  const stopped = turn.running_since === undefined;
  return (
    <div class={`countdown ${state} ${cls}`} data-testid="countdown">
      <span class="timer" data-testid="timer" role="timer" aria-label={`${t("timeLeft")} ${clock(left)}`}>
        {clock(left)}
      </span>
      {left < 0 ? <span class="timer-note">{t("overtime")}</span> : state === "warn" ? <span class="timer-note">{t("warningShort")}</span> : null}
      {stopped ? <span class="timer-note paused">{t(turn.paused === "session" ? "sessionPausedShort" : "clockStopped")}</span> : null}
    </div>
  );
}
