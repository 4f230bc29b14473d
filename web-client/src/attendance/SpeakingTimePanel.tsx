// Speaking time (发言时长) per member, sector and venue, as bar charts with the times
// written; with sector budgets, what is left (negative when over).
import { useApp } from "../app/context";
import { clock } from "../app/clock";
import { t } from "../i18n";
import { BarChart } from "../ui/BarChart";

export function SpeakingTimePanel() {
  const app = useApp();
  const sp = app.room.value!.room.speaking;
  const people = [...sp.participants].sort((a, b) => b.spoken_ms - a.spoken_ms);
  return (
    <div class="panel-body" data-testid="speaking-panel">
      {people.length === 0 ? <p class="muted">{t("nobodySpokeYet")}</p> : null}
      {people.length ? (
        <>
          <h3>{t("byMember")}</h3>
          <BarChart label={t("byMember")} testid="time-chart" bars={people.map((p) => ({ key: p.participant, label: p.name, value: p.spoken_ms, text: `${clock(p.spoken_ms)} · ${t("turnsCount", { n: p.turns })}` }))} />
        </>
      ) : null}
      {sp.sectors.length ? (
        <>
          <h3>{t("bySector")}</h3>
          <BarChart
            label={t("bySector")}
            bars={sp.sectors.map((g) => ({
              key: g.name,
              label: g.name,
              value: g.spoken_ms,
              over: g.budget_left_ms !== undefined && g.budget_left_ms < 0,
              text: `${clock(g.spoken_ms)}${g.budget_left_ms !== undefined ? ` · ${t("budgetLeft", { time: clock(g.budget_left_ms) })}` : ""}`,
            }))}
          />
        </>
      ) : null}
      {sp.venues.length ? (
        <>
          <h3>{t("byVenue")}</h3>
          <BarChart label={t("byVenue")} bars={sp.venues.map((g) => ({ key: g.name, label: g.name, value: g.spoken_ms, text: clock(g.spoken_ms) }))} />
        </>
      ) : null}
    </div>
  );
}
