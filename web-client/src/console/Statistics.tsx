// Statistics (出席和发言统计) of the period chosen on the reports tab, as charts: the
// attendance rate of each meeting, speaking time per sector, the members who spoke
// longest; and the members' attendance as a table. Every figure comes from
// `GET /api/v1/reports/statistics` (computed from the meetings' records on the server,
// docs/reports.md); each chart has its data table and a CSV of it.
import { useEffect, useState } from "preact/hooks";
import { statistics as fetchStatistics, statisticsCsvUrl, type MemberFigures, type Statistics as Stats } from "./api";
import { BarChart, ColumnChart, Figure } from "./Chart";
import { codeOf, Problem } from "./common";
import { hms, percent, seconds } from "./figures";
import { ct } from "./strings";

const rate = (permille: number | null) => (permille === null ? ct("st_noRate") : percent(permille));
const sectorName = (sector: string) => sector || ct("st_noSector");
/** A speaking time in words: `3分05秒`, `45秒`, `1小时02分03秒`. */
export function spoken(ms: number): string {
  const t = hms(ms);
  return ct(t.h > 0 ? "st_dur_h" : t.m > 0 ? "st_dur_m" : "st_dur_s", t);
}

export function Statistics({ from, to }: { from: string; to: string }) {
  const [data, setData] = useState<Stats>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    let live = true;
    setData(undefined);
    setProblem(undefined);
    fetchStatistics(from, to).then(
      (d) => live && setData(d),
      (e) => live && setProblem(codeOf(e)),
    );
    return () => {
      live = false;
    };
  }, [from, to]);

  return (
    <section class="c-stats" aria-labelledby="stats-h" data-testid="statistics">
      <h2 id="stats-h">{ct("st_title")}</h2>
      <p class="c-muted">{ct("st_hint", { from, to })}</p>
      <Problem code={problem} />
      {data === undefined ? (
        problem ? null : <p role="status">{ct("st_loading")}</p>
      ) : data.meetings.length === 0 ? (
        <p class="c-big c-strong" data-testid="stats-empty">
          {ct("st_empty")}
        </p>
      ) : (
        <Figures data={data} from={from} to={to} />
      )}
    </section>
  );
}

function Figures({ data, from, to }: { data: Stats; from: string; to: string }) {
  const invited = data.meetings.reduce((n, m) => n + m.invited, 0);
  const present = data.meetings.reduce((n, m) => n + m.present, 0);
  const speeches = data.meetings.reduce((n, m) => n + m.speeches, 0);
  const spokenMs = data.meetings.reduce((n, m) => n + m.speech_ms, 0);
  const overall = invited === 0 ? null : Math.floor((present * 2000 + invited) / (2 * invited));
  const csv = (table: "meetings" | "sectors" | "members") => statisticsCsvUrl(from, to, table);
  return (
    <>
      <div class="c-figures" data-testid="stats-summary">
        <p>
          <strong>{data.meetings.length}</strong>
          <span>{ct("st_sum_meetings")}</span>
        </p>
        <p>
          <strong>{rate(overall)}</strong>
          <span>{ct("st_sum_rate")}</span>
        </p>
        <p>
          <strong>{speeches}</strong>
          <span>{ct("st_sum_speeches")}</span>
        </p>
        <p>
          <strong>{spoken(spokenMs)}</strong>
          <span>{ct("st_sum_time")}</span>
        </p>
      </div>

      <Figure
        id="chart-attendance"
        caption={ct("st_cap_attendance")}
        csv={csv("meetings")}
        chart={
          <ColumnChart
            caption={ct("st_cap_attendance")}
            max={1000}
            tick={(v) => percent(Math.round(v))}
            bars={data.meetings.map((m) => ({ label: m.title, sub: m.date, value: m.attendance_permille, text: rate(m.attendance_permille) }))}
          />
        }
      >
        <table class="c-table">
          <caption class="c-visually-hidden">{ct("st_cap_attendance")}</caption>
          <thead>
            <tr>
              {(["st_col_meeting", "st_col_date", "st_col_kind", "st_col_invited", "st_col_present", "st_col_absent", "st_col_rate", "st_col_venues", "st_col_speeches", "st_col_time"] as const).map((k) => (
                <th key={k} scope="col">
                  {ct(k)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.meetings.map((m) => (
              <tr key={m.room}>
                <th scope="row" data-label={ct("st_col_meeting")} class="c-note">
                  {m.title}
                </th>
                <td data-label={ct("st_col_date")}>{m.date}</td>
                <td data-label={ct("st_col_kind")}>{ct(m.kind === "lecture" ? "kind_lecture" : "kind_consultation")}</td>
                <td data-label={ct("st_col_invited")}>{m.invited}</td>
                <td data-label={ct("st_col_present")}>{m.present}</td>
                <td data-label={ct("st_col_absent")}>{m.absent}</td>
                <td data-label={ct("st_col_rate")} data-testid="cell-rate">
                  {rate(m.attendance_permille)}
                </td>
                <td data-label={ct("st_col_venues")} class="c-note">
                  {m.venues
                    .map((v) => (v.head_count === null ? ct("st_venue", { venue: v.venue, present: v.present, known: v.known }) : ct("st_venueHeads", { venue: v.venue, present: v.present, known: v.known, n: v.head_count })))
                    .join("；")}
                </td>
                <td data-label={ct("st_col_speeches")}>{m.speeches}</td>
                <td data-label={ct("st_col_time")}>{spoken(m.speech_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Figure>

      {data.sectors.length === 0 ? (
        <p class="c-big" data-testid="stats-no-speech">
          {ct("st_noSpeech")}
        </p>
      ) : (
        <>
          <Figure
            id="chart-sectors"
            caption={ct("st_cap_sectors")}
            csv={csv("sectors")}
            chart={<BarChart bars={data.sectors.map((s) => ({ label: sectorName(s.sector), value: s.speech_ms, text: spoken(s.speech_ms) }))} />}
          >
            <table class="c-table">
              <caption class="c-visually-hidden">{ct("st_cap_sectors")}</caption>
              <thead>
                <tr>
                  {(["st_col_sector", "st_col_speeches", "st_col_time", "st_col_seconds", "st_col_speakers"] as const).map((k) => (
                    <th key={k} scope="col">
                      {ct(k)}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {data.sectors.map((s) => (
                  <tr key={s.sector}>
                    <th scope="row" data-label={ct("st_col_sector")}>
                      {sectorName(s.sector)}
                    </th>
                    <td data-label={ct("st_col_speeches")}>{s.speeches}</td>
                    <td data-label={ct("st_col_time")} data-testid="cell-time">
                      {spoken(s.speech_ms)}
                    </td>
                    <td data-label={ct("st_col_seconds")}>{seconds(s.speech_ms)}</td>
                    <td data-label={ct("st_col_speakers")}>{s.speakers}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Figure>
          {data.top_speakers.length > 0 ? (
            <Figure
              id="chart-top"
              caption={ct("st_cap_top")}
              csv={csv("members")}
              chart={<BarChart bars={data.top_speakers.map((m) => ({ label: m.name, sub: m.sector || undefined, value: m.speech_ms, text: spoken(m.speech_ms) }))} />}
            >
              <MemberTable members={data.top_speakers} caption={ct("st_cap_top")} />
            </Figure>
          ) : null}
        </>
      )}

      <section class="c-figure" aria-labelledby="stats-members-h" data-testid="stats-members">
        <h3 id="stats-members-h" class="c-figcaption">
          {ct("st_cap_members")}
        </h3>
        <div class="c-scroll">
          <MemberTable members={data.members} />
        </div>
        <div class="c-row c-no-print">
          <a class="c-button" href={csv("members")} download data-testid="stats-members-csv">
            {ct("st_csv")}
          </a>
        </div>
      </section>
    </>
  );
}

function MemberTable({ members, caption }: { members: MemberFigures[]; caption?: string }) {
  const heads = ["st_col_number", "st_col_name", "st_col_sector", "st_col_invitedM", "st_col_attended", "st_col_absentM", "st_col_rate", "st_col_speeches", "st_col_time"] as const;
  return (
    <table class="c-table">
      {caption ? <caption class="c-visually-hidden">{caption}</caption> : null}
      <thead>
        <tr>
          {heads.map((k) => (
            <th key={k} scope="col">
              {ct(k)}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {members.map((m) => (
          <tr key={m.member_id}>
            <td data-label={ct("st_col_number")}>{m.number ?? ""}</td>
            <th scope="row" data-label={ct("st_col_name")}>
              {m.name}
            </th>
            <td data-label={ct("st_col_sector")}>{m.sector}</td>
            <td data-label={ct("st_col_invitedM")}>{m.invited}</td>
            <td data-label={ct("st_col_attended")}>{m.attended}</td>
            <td data-label={ct("st_col_absentM")}>{m.absent}</td>
            <td data-label={ct("st_col_rate")}>{rate(m.attendance_permille)}</td>
            <td data-label={ct("st_col_speeches")}>{m.speeches}</td>
            <td data-label={ct("st_col_time")}>{spoken(m.speech_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
