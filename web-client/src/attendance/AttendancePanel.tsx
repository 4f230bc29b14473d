// Attendance (出席): who is here and away, who checked in, a venue's head count.
import { useApp } from "../app/context";
import { roleName } from "../app/people";
import { t } from "../i18n";

export function AttendancePanel() {
  const app = useApp();
  const s = app.room.value!;
  const rows = [...s.room.attendance].sort((a, b) => Number(b.present) - Number(a.present) || a.name.localeCompare(b.name, "zh-CN"));
  const present = rows.filter((a) => a.present).length;
  const checked = rows.filter((a) => a.checked_in_at).length;
  return (
    <div class="panel-body" data-testid="attendance-panel">
      <p class="muted small">
        {t("attendanceSummary", { present, total: rows.length, checked })}
        {s.viewers !== undefined ? ` · ${t("viewersCount", { n: s.viewers })}` : ""}
      </p>
      <table class="attendance">
        <thead>
          <tr>
            <th scope="col">{t("name")}</th>
            <th scope="col">{t("status")}</th>
            <th scope="col">{t("checkedInCol")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((a) => (
            <tr key={a.participant}>
              <td>
                {a.name}
                {a.participant === s.you.id ? t("youTag") : ""}
                <span class="muted small"> {[roleName(a.role), a.sector, a.venue].filter(Boolean).join(" · ")}</span>
              </td>
              <td class={a.present ? "ok" : "muted"}>{a.present ? t("present") : t("away")}</td>
              <td>
                {a.checked_in_at ? `✓${a.head_count !== undefined ? ` ${t("headCount", { n: a.head_count })}` : ""}` : <span class="muted">—</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
