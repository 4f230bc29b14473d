// The live text stream (图文直播): each logged event told in the reader's language.
import { t, type Key } from "./i18n";
import type { LogLine } from "./room";

/** One line of the live text stream (图文直播), in the reader's language. */
export function describe(l: LogLine): string {
  switch (l.kind) {
    case "session":
      return `${t("session")}：${t(`state_${l.text}` as Key)}`;
    case "agenda":
      return `${t("agenda")}：${l.text}`;
    case "floor":
      return `${t("speaking")}：${l.text}`;
    case "warning":
      return t("warning");
    case "overran":
      return t("timeUp");
    case "ended":
      return t(`ended_${l.text}` as Key);
    case "poll":
      return `${t("vote")}：${l.text}`;
    case "poll_closed":
      return `${t("results")}：${l.text}`;
    default:
      return l.text;
  }
}
