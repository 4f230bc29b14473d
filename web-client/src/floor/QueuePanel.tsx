// The speaking queue (发言队列), in the order the server gives it (grant order; never
// sorted here). Hosts grant, move and remove entries, with a reason for the record.
import { useApp } from "../app/context";
import { speakerName } from "../app/people";
import { t, type Key } from "../i18n";
import type { QueueEntry } from "../protocol/QueueEntry";
import { ErrorNote } from "../ui/ErrorNote";
import { grantWithCare } from "./grant";

const AT = "queue";

export function QueuePanel() {
  const app = useApp();
  const s = app.room.value!;
  const host = s.you.grants.includes("manage_floor");
  const queue = s.room.queue;
  const item = s.room.agenda.find((i) => i.id === s.room.current_item);
  return (
    <div class="panel-body" data-testid="queue-panel">
      {item ? <p class="muted small">{t("agendaNow", { title: item.title })}</p> : null}
      <p class="muted small" data-testid="ordering">
        {t("orderedBy", { policy: t(`ordering_${s.room.ordering}` as Key) })}
        {s.room.manual_order ? ` · ${t("manualOrder")}` : ""}
      </p>
      {host ? (
        <label class="field">
          <span>{t("reason")}</span>
          <input data-testid="override-reason" value={app.reason.value} placeholder={t("defaultReason")} maxLength={200} onInput={(e) => app.setReason((e.target as HTMLInputElement).value)} />
        </label>
      ) : null}
      <ErrorNote at={AT} />
      {queue.length === 0 ? <p class="muted">{t("queueEmpty")}</p> : null}
      <ol class="queue" data-testid="queue">
        {queue.map((e, i) => (
          <Entry key={e.id} entry={e} first={i === 0} host={host} />
        ))}
      </ol>
    </div>
  );
}

function Entry({ entry: e, first, host }: { entry: QueueEntry; first: boolean; host: boolean }) {
  const app = useApp();
  const s = app.room.value!;
  const queue = s.room.queue;
  const sameKind = queue.filter((x) => x.kind === e.kind);
  const pos = sameKind.findIndex((x) => x.id === e.id);
  const row = s.room.attendance.find((a) => a.participant === e.participant);
  const offline = row ? !row.present : false;
  const reason = () => app.reason.value.trim() || t("defaultReason");
  const name = speakerName(e.speaker, e.name);
  const mine = e.participant === s.you.id;
  return (
    <li class={`entry ${mine ? "mine" : ""}`} data-testid="queue-entry" data-entry={e.id}>
      <div class="entry-line">
        <span class="who">
          {name}
          {mine ? <span class="you-tag">{t("youTag")}</span> : null}
        </span>
        <span class={`tag kind-${e.kind}`}>{t(`kind_${e.kind}` as Key)}</span>
        {offline ? <span class="tag away">{t("away")}</span> : null}
      </div>
      {e.sector || e.venue ? <div class="muted small">{[e.sector, e.venue].filter(Boolean).join(" · ")}</div> : null}
      {host ? (
        <div class="entry-actions">
          <button class="small" data-testid="grant" disabled={s.room.session !== "in_session"} onClick={() => grantWithCare(app, e, first, AT)}>
            {t("grant")}
          </button>
          <button class="small" aria-label={t("moveUpName", { name })} disabled={pos === 0} onClick={() => app.act({ type: "move_entry", entry: e.id, position: pos - 1, reason: reason() }, AT)}>
            ↑
          </button>
          <button class="small" aria-label={t("moveDownName", { name })} disabled={pos === sameKind.length - 1} onClick={() => app.act({ type: "move_entry", entry: e.id, position: pos + 1, reason: reason() }, AT)}>
            ↓
          </button>
          <button class="small" data-testid="remove" onClick={() => app.ask({ text: "removeConfirm", vars: { name }, ok: "remove", run: () => void app.act({ type: "remove_entry", entry: e.id, reason: reason() }, AT) })}>
            {t("remove")}
          </button>
        </div>
      ) : null}
    </li>
  );
}
