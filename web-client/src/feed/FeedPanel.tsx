// The live text feed (图文直播): the session told line by line, for those who cannot
// watch video; a late viewer gets the session so far from the snapshot.
import { useApp } from "../app/context";
import type { FeedLine } from "../app/reducer";
import { t, type Key } from "../i18n";

export function describe(l: FeedLine): string {
  const s = l.subject ?? "";
  switch (l.kind) {
    case "session":
      return t("feed_session", { state: t(`state_${l.code}` as Key) });
    case "agenda":
      return t("feed_agenda", { title: s });
    case "floor":
      return t("feed_floor", { name: s, kind: t(`kind_${l.code}` as Key) });
    case "warning":
      return t("feed_warning", { name: s || t("theSpeaker") });
    case "overran":
      return t("feed_overran", { name: s || t("theSpeaker") });
    case "ended":
      return t(`ended_${l.code}` as Key, { name: s || t("theSpeaker") });
    case "poll":
      return t("feed_poll", { question: s });
    case "poll_closed":
      return l.code && l.code !== "not_declared" ? t("feed_poll_result", { question: s, outcome: t(`outcome_${l.code}` as Key) }) : t("feed_poll_closed", { question: s });
    case "poll_published":
      return t("feed_poll_result", { question: s, outcome: t(`outcome_${l.code}` as Key) });
    case "comment":
      return `${l.by ?? ""}${t("colon")}${s}`;
    case "question":
      return t("feed_question", { text: s });
    case "answered":
      return t("feed_answered", { text: s });
  }
}

function time(at: number): string {
  const d = new Date(at);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function FeedPanel() {
  const app = useApp();
  const feed = app.room.value!.feed;
  return (
    <div class="panel-body" data-testid="feed-panel">
      {feed.length === 0 ? <p class="muted">{t("feedEmpty")}</p> : null}
      <ol class="items feed" data-testid="live-text" aria-live="polite">
        {[...feed].reverse().map((l) => (
          <li key={l.seq} class={`item feed-${l.kind}`}>
            <time class="muted small">{time(l.at)}</time> {describe(l)}
          </li>
        ))}
      </ol>
    </div>
  );
}
