// Reports (报表) in the console: participation records (履职档案) over a period, downloaded
// as CSV (members, or every point with the event it came from) or as one XLSX workbook.
// The files are made by the server from the records (docs/participation.md); the page
// only chooses the period.
import { useState } from "preact/hooks";
import { participationUrl, type ReportFormat } from "./api";
import { Statistics } from "./Statistics";
import { ct } from "./strings";

/** `YYYY-MM-DD` of a date in Beijing time. */
function beijingDay(at: Date): string {
  return new Date(at.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 10);
}

export function Reports() {
  const today = beijingDay(new Date());
  const [from, setFrom] = useState(`${today.slice(0, 4)}-01-01`);
  const [to, setTo] = useState(today);
  const valid = from !== "" && to !== "" && from <= to;
  const link = (format: ReportFormat, table: "members" | "points", label: string, testid: string) =>
    valid ? (
      <a class="c-button" href={participationUrl(from, to, format, table)} download data-testid={testid}>
        {label}
      </a>
    ) : (
      <span class="c-button c-disabled" aria-disabled="true" data-testid={testid}>
        {label}
      </span>
    );
  return (
    <section class="c-card" aria-labelledby="reports-h" data-testid="reports">
      <h2 id="reports-h">{ct("rp_title")}</h2>
      <p class="c-muted">{ct("rp_hint")}</p>
      <div class="c-row c-period">
        <label>
          {ct("rp_from")}
          <input type="date" required value={from} max={to || undefined} onInput={(e) => setFrom(e.currentTarget.value)} data-testid="report-from" />
        </label>
        <label>
          {ct("rp_to")}
          <input type="date" required value={to} min={from || undefined} onInput={(e) => setTo(e.currentTarget.value)} data-testid="report-to" />
        </label>
      </div>
      {valid ? null : (
        <p class="problem" role="alert" data-testid="report-period-problem">
          {ct("rp_badPeriod")}
        </p>
      )}
      <div class="c-row c-actions">
        {link("xlsx", "members", ct("rp_xlsx"), "report-xlsx")}
        {link("pdf", "members", ct("rp_pdf"), "report-pdf")}
        {link("csv", "members", ct("rp_csvMembers"), "report-csv")}
        {link("csv", "points", ct("rp_csvPoints"), "report-points")}
      </div>
      {valid ? <Statistics from={from} to={to} /> : null}
    </section>
  );
}
