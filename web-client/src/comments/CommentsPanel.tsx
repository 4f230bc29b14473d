// Public comments (评论): approved ones, and my own with where they stand (pending, or
// rejected with the reason category).
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import { Compose } from "../ui/Compose";

export function CommentsPanel() {
  const app = useApp();
  const s = app.room.value!;
  const list = s.room.comments.filter((c) => c.status === "approved" || c.author === s.you.id).slice(-100);
  return (
    <div class="panel-body" data-testid="comments-panel">
      {s.you.grants.includes("comment") ? <Compose label="commentPlaceholder" button="postComment" at="post_comment" testid="comment" send={(text) => ({ type: "post_comment", text })} /> : null}
      {list.length === 0 ? <p class="muted">{t("noComments")}</p> : null}
      <ul class="items" data-testid="comments">
        {[...list].reverse().map((c) => (
          <li key={c.id} class={`item ${c.status}`} data-testid="comment" data-status={c.status}>
            <p class="item-text">
              <strong>{c.author === s.you.id ? t("byMe") : c.author_name}</strong>
              {t("colon")}
              {c.text}
            </p>
            {c.status === "pending" ? <p class="note">{t("pendingNote")}</p> : null}
            {c.status === "rejected" ? (
              <p class="note over-note" data-testid="rejected-note">
                {t("rejectedNote", { reason: c.rejected ? t(`reason_${c.rejected}` as Key) : t("reason_other") })}
              </p>
            ) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
