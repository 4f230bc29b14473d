// The session is closed (会议已结束): read-only, nothing to press; what was decided and
// who spoke how long. A late joiner sees this, not a live room.
import { useApp } from "../app/context";
import { t } from "../i18n";
import { SpeakingTimePanel } from "../attendance/SpeakingTimePanel";
import { Results } from "../polls/Results";
import { Toolbar } from "../ui/Toolbar";
import { ExportRecord } from "../settings/SettingsDialog";

export function Closed() {
  const app = useApp();
  const r = app.room.value!.room;
  const polls = r.polls.filter((p) => p.results && p.state !== "draft");
  return (
    <div class="page closed-page">
      <Toolbar />
      <main class="closed" data-testid="closed-screen">
        <section class="card">
          <h2 role="status" data-testid="session-state">
            {t("closedTitle")}
          </h2>
          <p class="end-text">{t("closedText", { title: r.title })}</p>
          {app.room.value!.view === "host" ? <ExportRecord /> : null}
        </section>
        {polls.length ? (
          <section class="card">
            <h2>{t("results")}</h2>
            {polls.map((p) => (
              <div key={p.id} class="poll">
                <h3>{p.spec.question}</h3>
                <Results poll={p} />
              </div>
            ))}
          </section>
        ) : null}
        <section class="card">
          <h2>{t("speakingTime")}</h2>
          <SpeakingTimePanel />
        </section>
      </main>
    </div>
  );
}
