// What the meeting needs to tell me, where I am looking: just above the control bar,
// announced to screen readers, kept until I acknowledge it or it is superseded.
import { useApp } from "../app/context";
import type { Notice } from "../app/notices";
import { t, type Key } from "../i18n";

function text(n: Notice): string {
  const reason = n.reason ? t(`reason_${n.reason}` as Key) : "";
  return t(`notice_${n.kind}` as Key, { text: n.subject ?? "", reason });
}

export function Notices() {
  const app = useApp();
  const list = app.notices.value;
  const urgent = list.filter((n) => n.urgent);
  const calm = list.filter((n) => !n.urgent);
  const item = (n: Notice) => (
    <li key={n.id} class={`notice notice-${n.kind} ${n.urgent ? "urgent" : ""}`} data-testid={`notice-${n.kind}`}>
      <span class="notice-text">{text(n)}</span>
      <button class="small" onClick={() => app.dismiss(n.id)}>
        {n.kind === "floor_given" ? t("startSpeaking") : t("gotIt")}
      </button>
    </li>
  );
  return (
    <div class="notices">
      <div role="alert" aria-live="assertive">
        <ul class="notice-list">{urgent.map(item)}</ul>
      </div>
      <div role="status" aria-live="polite">
        <ul class="notice-list">{calm.map(item)}</ul>
      </div>
    </div>
  );
}
