// A poll's result as bar charts, the two electorates apart, with the numbers written.
import { t, type Key } from "../i18n";
import type { PollView } from "../protocol/PollView";
import type { Tally } from "../protocol/Tally";
import { BarChart } from "../ui/BarChart";
import { optionsOf } from "./options";

export function Results({ poll }: { poll: PollView }) {
  const r = poll.results;
  if (!r) return null;
  const names = optionsOf(poll).map((o) => o.label);
  const chart = (title: Key, tally?: Tally) =>
    tally ? (
      <div class="tally">
        <h4>
          {t(title)} · {t("ballotsCount", { n: tally.ballots })}
        </h4>
        <BarChart
          label={`${poll.spec.question} ${t(title)}`}
          bars={tally.counts.map((n, i) => ({
            key: String(i),
            label: names[i] ?? String(i + 1),
            value: n,
            text: tally.ballots ? t("countShare", { n, pct: Math.round((100 * n) / tally.ballots) }) : String(n),
            strong: r.winner === i,
          }))}
        />
      </div>
    ) : null;
  return (
    <div class="results" data-testid="results">
      {poll.state !== "open" && r.outcome !== "not_declared" ? (
        <p class={`outcome ${r.outcome}`} data-testid="outcome">
          {t(`outcome_${r.outcome}` as Key)}
        </p>
      ) : null}
      {poll.state === "open" ? <p class="muted small">{t("runningResults")}</p> : null}
      {chart("binding", r.binding)}
      {chart("advisory", r.advisory)}
    </div>
  );
}
