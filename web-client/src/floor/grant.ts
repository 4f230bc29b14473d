// Giving the floor, with the care the chair needs: a warning before granting someone
// who is offline, and the override reason for anyone but the next in line.
import type { App } from "../app/model";
import { t } from "../i18n";
import type { QueueEntry } from "../protocol/QueueEntry";

export function grantWithCare(app: App, entry: QueueEntry, next: boolean, at: string): void {
  const s = app.room.value;
  if (!s) return;
  const reason = next ? undefined : app.reason.value.trim() || t("defaultReason");
  const grant = () => void app.act({ type: "grant_floor", entry: next ? undefined : entry.id, reason }, at);
  const row = s.room.attendance.find((a) => a.participant === entry.participant);
  if (row && !row.present) {
    app.ask({ text: "grantOfflineConfirm", vars: { name: entry.speaker ?? entry.name }, ok: "grantAnyway", run: grant });
  } else grant();
}
