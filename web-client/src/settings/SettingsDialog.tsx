// The host's settings, in a dialog: time limits and overrun, the ordering policy, the
// agenda item in force, moderation, and the record's export.
import { useState } from "preact/hooks";
import { useApp, useLink } from "../app/context";
import { t, type Key } from "../i18n";
import type { OrderingPolicy } from "../protocol/OrderingPolicy";
import { Dialog } from "../ui/Dialog";
import { ErrorNote } from "../ui/ErrorNote";

const AT = "settings";
const POLICIES: OrderingPolicy[] = ["first_come", "fewest_turns", "least_time", "rotate_sectors", "rotate_venues"];

/** Download the hash-chained record (JSON lines), verifiable with `yishi record verify`. */
export function ExportRecord() {
  const link = useLink();
  const download = async () => {
    const res = await fetch(`/api/v1/rooms/${encodeURIComponent(link.room)}/record`, { headers: { authorization: `Bearer ${link.token}` } });
    if (!res.ok) return;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${link.room}-record.jsonl`;
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <button data-testid="export" onClick={() => void download()}>
      {t("exportRecord")}
    </button>
  );
}

export function SettingsDialog() {
  const app = useApp();
  const r = app.room.value!.room;
  const [impromptu, setImpromptu] = useState(String(r.settings.limits.impromptu_s));
  const [scheduled, setScheduled] = useState(String(r.settings.limits.scheduled_s));
  const [warning, setWarning] = useState(String(r.settings.warning_s));
  const [hard, setHard] = useState(r.settings.overrun === "hard");
  const [auto, setAuto] = useState(r.settings.moderation === "auto");
  const [saved, setSaved] = useState(false);
  const close = () => app.openDialog(undefined);
  const save = async () => {
    setSaved(false);
    const ok = await app.act(
      {
        type: "update_settings",
        patch: {
          limits: { ...r.settings.limits, impromptu_s: Number(impromptu), scheduled_s: Number(scheduled) },
          warning_s: Number(warning),
          overrun: hard ? "hard" : "soft",
          grace_s: hard ? 0 : r.settings.grace_s,
          moderation: auto ? "auto" : "pre",
        },
      },
      AT,
    );
    setSaved(ok);
  };
  const num = (label: Key, value: string, set: (v: string) => void, testid: string, min = 10) => (
    <label class="field">
      <span>{t(label)}</span>
      <input type="number" data-testid={testid} min={min} value={value} onInput={(e) => set((e.target as HTMLInputElement).value)} />
    </label>
  );
  return (
    <Dialog title={t("settings")} onClose={close} testid="settings" wide={true}>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <h3>{t("turnSettings")}</h3>
        <div class="row">
          {num("impromptuLimit", impromptu, setImpromptu, "limit")}
          {num("scheduledLimit", scheduled, setScheduled, "scheduled-limit")}
          {num("warningAt", warning, setWarning, "warning", 0)}
        </div>
        <label class="check">
          <input data-testid="hard" type="checkbox" checked={hard} onChange={(e) => setHard((e.target as HTMLInputElement).checked)} /> {t("hardStop")}
        </label>
        <label class="check">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto((e.target as HTMLInputElement).checked)} /> {t("autoModeration")}
        </label>
        <ErrorNote at={AT} />
        <div class="dialog-actions">
          <button type="submit" class="primary" data-testid="save-settings">
            {t("save")}
          </button>
          {saved ? (
            <span class="ok" role="status" data-testid="settings-saved">
              ✓ {t("savedRecorded")}
            </span>
          ) : null}
        </div>
      </form>
      <h3>{t("ordering")}</h3>
      <div class="segmented wrap" role="group" aria-label={t("ordering")}>
        {POLICIES.map((p) => (
          <button key={p} class="small" aria-pressed={r.ordering === p && !r.manual_order} onClick={() => app.act({ type: "set_ordering", policy: p }, AT)}>
            {t(`ordering_${p}` as Key)}
          </button>
        ))}
      </div>
      {r.agenda.length ? (
        <>
          <h3>{t("agenda")}</h3>
          <ol class="agenda">
            {r.agenda.map((i) => (
              <li key={i.id} aria-current={i.id === r.current_item ? "step" : undefined}>
                {i.title}{" "}
                {i.id !== r.current_item ? (
                  <button class="small" disabled={!!r.floor} onClick={() => app.act({ type: "set_current_item", item: i.id }, AT)}>
                    {t("makeCurrent")}
                  </button>
                ) : (
                  <span class="tag">{t("current")}</span>
                )}
              </li>
            ))}
          </ol>
        </>
      ) : null}
      <h3>{t("record")}</h3>
      <ExportRecord />
    </Dialog>
  );
}
