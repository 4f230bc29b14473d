// Questions (提问): approved ones for everyone, my own pending or rejected ones with the
// reason, upvotes; hosts mark answered, pin, forward to a respondent and merge duplicates.
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import type { Question } from "../protocol/Question";
import { Compose } from "../ui/Compose";
import { ErrorNote } from "../ui/ErrorNote";

export function QuestionsPanel() {
  const app = useApp();
  const s = app.room.value!;
  const host = s.you.grants.includes("moderate");
  const list = s.room.questions
    .filter((q) => !q.merged_into && (q.status === "approved" || q.author === s.you.id))
    .sort((a, b) => Number(b.pinned) - Number(a.pinned) || b.upvotes - a.upvotes || a.id - b.id);
  return (
    <div class="panel-body" data-testid="questions-panel">
      {s.you.grants.includes("ask") ? <Compose label="askPlaceholder" button="ask" at="ask_question" testid="ask" send={(text) => ({ type: "ask_question", text })} /> : null}
      <ErrorNote at="question" />
      {list.length === 0 ? <p class="muted">{t("noQuestions")}</p> : null}
      <ul class="items" data-testid="questions">
        {list.map((q) => (
          <QuestionItem key={q.id} q={q} host={host} others={list.filter((o) => o.id !== q.id && o.status === "approved")} />
        ))}
      </ul>
    </div>
  );
}

function QuestionItem({ q, host, others }: { q: Question; host: boolean; others: Question[] }) {
  const app = useApp();
  const s = app.room.value!;
  const respondents = s.room.attendance.filter((a) => a.role === "respondent");
  const forwardedTo = respondents.find((r) => r.participant === q.forwarded_to)?.name;
  const mine = q.author === s.you.id;
  return (
    <li class={`item ${q.status}`} data-testid="question" data-status={q.status}>
      <p class="item-text">
        {q.pinned ? <span class="tag">{t("pinned")}</span> : null}
        {q.text}
      </p>
      <p class="muted small">
        {mine ? t("byMe") : q.author_name}
        {q.answered ? <span class="tag ok-tag">{t("answered")}</span> : null}
        {forwardedTo ? <span class="tag">{t("forwardedTo", { name: forwardedTo })}</span> : null}
      </p>
      {q.status === "pending" ? <p class="note">{t("pendingNote")}</p> : null}
      {q.status === "rejected" ? (
        <p class="note over-note" data-testid="rejected-note">
          {t("rejectedNote", { reason: q.rejected ? t(`reason_${q.rejected}` as Key) : t("reason_other") })}
        </p>
      ) : null}
      {q.status === "approved" ? (
        <div class="row">
          {s.you.grants.includes("ask") && !mine ? (
            <button class="small" aria-label={t("upvoteLabel", { n: q.upvotes })} onClick={() => app.act({ type: "upvote", question: q.id }, "question")}>
              👍 {q.upvotes}
            </button>
          ) : (
            <span class="muted small">👍 {q.upvotes}</span>
          )}
          {host ? (
            <>
              {!q.answered ? (
                <button class="small" data-testid="mark-answered" onClick={() => app.act({ type: "mark_answered", question: q.id }, "question")}>
                  {t("markAnswered")}
                </button>
              ) : null}
              <button class="small" onClick={() => app.act({ type: "pin_question", question: q.id, pinned: !q.pinned }, "question")}>
                {q.pinned ? t("unpin") : t("pin")}
              </button>
              {respondents.length ? (
                <label>
                  <span class="sr">{t("forwardTo")}</span>
                  <select class="small" onChange={(e) => app.act({ type: "forward_question", question: q.id, to: (e.target as HTMLSelectElement).value }, "question")}>
                    <option value="">{t("forwardTo")}…</option>
                    {respondents.map((a) => (
                      <option key={a.participant} value={a.participant}>
                        {a.name}
                      </option>
                    ))}
                  </select>
                </label>
              ) : null}
              {others.length ? (
                <label>
                  <span class="sr">{t("mergeInto")}</span>
                  <select class="small" onChange={(e) => app.act({ type: "merge_question", question: q.id, into: Number((e.target as HTMLSelectElement).value) }, "question")}>
                    <option value="">{t("mergeInto")}…</option>
                    {others.map((o) => (
                      <option key={o.id} value={o.id}>
                        {o.text.slice(0, 24)}
                      </option>
                    ))}
                  </select>
                </label>
              ) : null}
            </>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}
