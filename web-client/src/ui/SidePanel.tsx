// The side panel with tabs (queue, polls, questions, comments, chat, attendance,
// speaking time, live text); on a phone a bottom sheet under the stage. Lists scroll
// inside the panel, never the page.
import type { ComponentType } from "preact";
import { useApp, useLink } from "../app/context";
import type { Tab } from "../app/model";
import { t, type Key } from "../i18n";
import { QueuePanel } from "../floor/QueuePanel";
import { PollsPanel } from "../polls/PollsPanel";
import { QuestionsPanel } from "../questions/QuestionsPanel";
import { CommentsPanel } from "../comments/CommentsPanel";
import { ChatPanel } from "../chat/ChatPanel";
import { AttendancePanel } from "../attendance/AttendancePanel";
import { SpeakingTimePanel } from "../attendance/SpeakingTimePanel";
import { FeedPanel } from "../feed/FeedPanel";

const PANELS: Record<Tab, ComponentType> = {
  queue: QueuePanel,
  polls: PollsPanel,
  questions: QuestionsPanel,
  comments: CommentsPanel,
  chat: ChatPanel,
  attendance: AttendancePanel,
  time: SpeakingTimePanel,
  feed: FeedPanel,
};

/** The tabs a viewer has, in order. */
export function tabsFor(view: string, lecture: boolean): Tab[] {
  if (view === "audience") return ["feed", "questions", "comments", "polls"];
  if (lecture) return view === "host" ? ["questions", "comments", "polls", "queue", "attendance"] : ["questions", "comments", "polls", "queue", "chat"];
  if (view === "host") return ["queue", "polls", "questions", "comments", "chat", "attendance", "time", "feed"];
  return ["queue", "polls", "questions", "chat", "attendance", "time", "feed"];
}

export function SidePanel() {
  const app = useApp();
  const link = useLink();
  const s = app.room.value!;
  const tabs = tabsFor(s.view, link.lecture);
  const current = app.tab.value && tabs.includes(app.tab.value) ? app.tab.value : tabs[0];
  const Panel = PANELS[current];
  const badge = (tab: Tab): number => {
    if (tab === "queue") return s.room.queue.length;
    if (tab === "polls") return app.votable.value.length;
    if (tab === "questions") return s.room.questions.filter((q) => q.status === "approved" && !q.answered && !q.merged_into).length;
    return 0;
  };
  return (
    <aside class="side" aria-label={t("sidePanel")} data-testid="side-panel">
      <div class="tabs" role="tablist" aria-label={t("sidePanel")}>
        {tabs.map((tab) => {
          const n = badge(tab);
          return (
            <button key={tab} role="tab" id={`tab-${tab}`} aria-selected={tab === current} aria-controls="panel" data-testid={`tab-${tab}`} class="tab" onClick={() => app.showTab(tab)}>
              {t(`tab_${tab}` as Key)}
              {n ? <span class="badge">{n}</span> : null}
            </button>
          );
        })}
      </div>
      <div class="panel" id="panel" role="tabpanel" aria-labelledby={`tab-${current}`} tabIndex={0}>
        <Panel />
      </div>
    </aside>
  );
}
