// Devices and modes: microphone and camera, audio only, the chime, connection quality.
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import { Dialog } from "../ui/Dialog";

export function DevicesDialog() {
  const app = useApp();
  const m = app.media;
  const list = m.devices.value;
  const pick = (kind: "audioinput" | "videoinput", label: Key, value: string) => {
    const options = list.filter((d) => d.kind === kind);
    if (options.length === 0) return null;
    return (
      <label class="field">
        <span>{t(label)}</span>
        <select data-testid={kind} value={value} onChange={(e) => void m.choose(kind, (e.target as HTMLSelectElement).value)}>
          {options.map((d, i) => (
            <option key={d.deviceId} value={d.deviceId}>
              {d.label || `${t(label)} ${i + 1}`}
            </option>
          ))}
        </select>
      </label>
    );
  };
  const q = m.quality.value;
  const phase = m.phase.value;
  return (
    <Dialog title={t("devices")} onClose={() => app.openDialog(undefined)} testid="devices-dialog">
      <p role="status" data-testid="media-status" data-phase={phase}>
        {t(`media_${phase}` as Key)}
        {m.problem.value && m.problem.value !== "mediaFailed" && m.problem.value !== "mediaUnavailable" ? ` · ${t(m.problem.value)}` : ""}
      </p>
      {pick("audioinput", "chooseMic", m.micId.value)}
      {m.audioOnly.value ? null : pick("videoinput", "chooseCamera", m.camId.value)}
      <label class="check">
        <input type="checkbox" data-testid="audio-only" checked={m.audioOnly.value} onChange={(e) => m.setAudioOnly((e.target as HTMLInputElement).checked)} /> {t("audioOnly")}
      </label>
      <label class="check">
        <input type="checkbox" checked={app.prefs.chime.value} onChange={() => app.toggleChime()} /> {t("chimeOption")}
      </label>
      <p data-testid="quality" data-quality={q}>
        {t("network")}
        {t("colon")}
        {t(`quality_${q}` as Key)}
        {m.rtt.value !== undefined ? ` (${Math.round(m.rtt.value * 1000)} ms)` : ""}
      </p>
      <div class="dialog-actions">
        {phase === "failed" || phase === "off" ? (
          <button class="primary" onClick={() => void m.start()}>
            {t("mediaRetry")}
          </button>
        ) : (
          <button onClick={() => m.stop()}>{t("mediaTurnOff")}</button>
        )}
        <button onClick={() => app.openDialog(undefined)}>{t("close")}</button>
      </div>
    </Dialog>
  );
}
