// Moderation (审核), in a dialog: pending questions and comments, approve or reject with
// a reason category; A and R act on the first item.
import { useState } from "preact/hooks";
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import type { RejectReason } from "../protocol/RejectReason";
import { Dialog } from "../ui/Dialog";
import { ErrorNote } from "../ui/ErrorNote";

const REASONS: RejectReason[] = ["duplicate", "off_topic", "abusive", "advertising", "personal_information", "other"];
const AT = "moderation";

export function ModerationDialog() {
  const app = useApp();
  const r = app.room.value!.room;
  const [why, setWhy] = useState<RejectReason>("off_topic");
  const questions = r.questions.filter((q) => q.status === "pending");
  const comments = r.comments.filter((c) => c.status === "pending");
  const items = [...questions.map((q) => ({ key: `q${q.id}`, q: q.id, text: q.text, author: q.author_name, flagged: q.flagged, kind: "questions" as const })), ...comments.map((c) => ({ key: `c${c.id}`, c: c.id, text: c.text, author: c.author_name, flagged: c.flagged, kind: "comments" as const }))];
  const decide = (item: { q?: number; c?: number }, approve: boolean) => {
    const decision = approve ? ({ decision: "approve" } as const) : ({ decision: "reject", reason: why } as const);
    if (item.q !== undefined) return app.act({ type: "moderate_question", question: item.q, decision }, AT);
    if (item.c !== undefined) return app.act({ type: "moderate_comment", comment: item.c, decision }, AT);
  };
  const onKey = (e: KeyboardEvent) => {
    const tag = (e.target as HTMLElement).tagName;
    if (!items[0] || tag === "INPUT" || tag === "SELECT") return;
    if (e.key === "a" || e.key === "A") void decide(items[0], true);
    if (e.key === "r" || e.key === "R") void decide(items[0], false);
  };
  return (
    <Dialog title={t("moderationCount", { n: items.length })} onClose={() => app.openDialog(undefined)} testid="moderation" wide={true}>
      <div onKeyDown={onKey}>
        <p class="muted small">{t("shortcuts")}</p>
        <label class="field">
          <span>{t("rejectReason")}</span>
          <select value={why} onChange={(e) => setWhy((e.target as HTMLSelectElement).value as RejectReason)}>
            {REASONS.map((x) => (
              <option key={x} value={x}>
                {t(`reason_${x}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <ErrorNote at={AT} />
        {items.length === 0 ? <p class="muted">{t("nothingPending")}</p> : null}
        <ul class="items" data-testid="moderation-list">
          {items.map((i) => (
            <li key={i.key} class="item">
              <p class="item-text">
                <span class="tag">{t(i.kind)}</span>
                {i.flagged ? <span class="tag away">{t("flagged")}</span> : null}
                {i.text}
              </p>
              <p class="muted small">{i.author}</p>
              <div class="row">
                <button class="small primary" data-testid="approve" onClick={() => decide(i, true)}>
                  {t("approve")}
                </button>
                <button class="small" data-testid="reject" onClick={() => decide(i, false)}>
                  {t("rejectWith", { reason: t(`reason_${why}` as Key) })}
                </button>
              </div>
            </li>
          ))}
        </ul>
      </div>
    </Dialog>
  );
}
