// Members' studios (委员工作室) in the console, beside the overdue list: the studios
// themselves (opened and edited in `StudioEditor.tsx`), duty slots
// (会客时间) — scheduled for a studio with a day, a start, an end and a title, listed until
// they end, cancelled (asked first) before they start — and social-conditions reports
// (社情民意): a studio's published messages, each filed once as an item (its title asked
// in a dialog; its text is the message's), and the items filed, newest first, with their
// message and sender (docs/board.md).
import { useEffect, useState } from "preact/hooks";
import type { DutyView, PublicMessage, StudioSummary } from "../board/api";
import { type SocialReport, studioStaffApi } from "./api";
import { AskText, codeOf, localTime, Problem } from "./common";
import { StudioEditor } from "./StudioEditor";
import { ct } from "./strings";

/** Today in China, `YYYY-MM-DD`, and the time now, `HH:MM`. */
function chinaNow(): { day: string; time: string } {
  const iso = new Date(Date.now() + 8 * 3600_000).toISOString();
  return { day: iso.slice(0, 10), time: iso.slice(11, 16) };
}

/** A day and a time of day in China as epoch milliseconds. */
const chinaTime = (day: string, time: string): number => Date.parse(`${day}T${time}:00+08:00`);

const span = (s: DutyView) =>
  `${localTime(s.starts_at, { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Shanghai" })}–${localTime(s.ends_at, { timeStyle: "short", timeZone: "Asia/Shanghai" })}`;

export function StudioDesk() {
  const [studios, setStudios] = useState<StudioSummary[]>([]);
  const [problem, setProblem] = useState<string>();
  const load = () => studioStaffApi.studios().then(setStudios, (e) => setProblem(codeOf(e)));
  useEffect(() => void load(), []);
  return (
    <>
      <Problem code={problem} />
      <StudioEditor studios={studios} changed={load} />
      <DutyDesk studios={studios} />
      <ReportDesk studios={studios} />
    </>
  );
}

function DutyDesk({ studios }: { studios: StudioSummary[] }) {
  const [slots, setSlots] = useState<DutyView[] | null>(null);
  const [member, setMember] = useState("");
  const now = chinaNow();
  const [day, setDay] = useState(now.day);
  const [from, setFrom] = useState(now.time);
  const [to, setTo] = useState("");
  const [title, setTitle] = useState("");
  const [problem, setProblem] = useState<string>();
  const [listProblem, setListProblem] = useState<string>();
  const [done, setDone] = useState<string>();
  const load = () =>
    studioStaffApi.duty().then(
      (s) => {
        setSlots(s);
        setListProblem(undefined);
      },
      (e) => setListProblem(codeOf(e)),
    );
  useEffect(() => void load(), []);
  const schedule = async (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    if (!member || !day || !from || !to) return setProblem("missing");
    try {
      await studioStaffApi.command({ type: "schedule_duty", member: Number(member), title, starts_at: chinaTime(day, from), ends_at: chinaTime(day, to) });
      setProblem(undefined);
      setDone(ct("sd_scheduled", { title: title.trim() }));
      setTitle("");
      await load();
    } catch (err) {
      setProblem(codeOf(err));
    }
  };
  const cancel = async (s: DutyView) => {
    if (!confirm(ct("sd_cancelConfirm", { title: s.title, name: s.studio_name }))) return;
    try {
      await studioStaffApi.command({ type: "cancel_duty", slot: s.id });
      setListProblem(undefined);
      setDone(ct("sd_cancelled", { title: s.title }));
      await load();
    } catch (err) {
      setListProblem(codeOf(err));
    }
  };
  return (
    <section class="c-card" aria-labelledby="sd-h" data-testid="studio-duty">
      <h2 id="sd-h">{ct("sd_title")}</h2>
      <p class="c-muted">{ct("sd_hint")}</p>
      <form class="c-form" onSubmit={schedule} data-testid="duty-form">
        <div class="c-row">
          <label>
            {ct("sd_studio")}
            <select value={member} onChange={(e) => setMember(e.currentTarget.value)} data-testid="duty-studio">
              <option value="">{ct("sd_pick")}</option>
              {studios.map((s) => (
                <option key={s.member} value={String(s.member)}>
                  {s.name}
                  {s.sector ? `（${s.sector}）` : ""}
                </option>
              ))}
            </select>
          </label>
          <label>
            {ct("sd_day")}
            <input type="date" value={day} onInput={(e) => setDay(e.currentTarget.value)} data-testid="duty-day" />
          </label>
          <label>
            {ct("sd_from")}
            <input type="time" value={from} onInput={(e) => setFrom(e.currentTarget.value)} data-testid="duty-from" />
          </label>
          <label>
            {ct("sd_to")}
            <input type="time" value={to} onInput={(e) => setTo(e.currentTarget.value)} data-testid="duty-to" />
          </label>
        </div>
        <label>
          {ct("sd_titleF")}
          <input maxLength={60} value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="duty-title" />
        </label>
        <Problem code={problem} scope="sd" />
        <button type="submit" class="c-primary" data-testid="duty-schedule">
          {ct("sd_schedule")}
        </button>
      </form>
      <p class="c-ok" role="status" data-testid="duty-status">
        {done ?? ""}
      </p>
      <h3>{ct("sd_list")}</h3>
      <Problem code={listProblem} scope="sd" />
      {slots === null ? null : slots.length === 0 ? (
        <p data-testid="duty-none">{ct("sd_none")}</p>
      ) : (
        <ul class="c-overdue c-duty" data-testid="duty-list">
          {slots.map((s) => (
            <li key={s.id} data-testid={`duty-${s.id}`}>
              <p>
                <strong>{s.title}</strong>　{s.studio_name}
              </p>
              <p>
                {span(s)}　<span class="c-muted">{ct(`sd_phase_${s.phase}` as "sd_phase_live")}</span>
              </p>
              <div class="c-row">
                <a class="c-button" href={`/board#/studio/${s.member}`} target="_blank" rel="noopener">
                  {ct("so_open")}
                </a>
                {s.phase === "upcoming" || s.phase === "opening" ? (
                  <button type="button" class="c-button" onClick={() => void cancel(s)} data-testid={`duty-cancel-${s.id}`}>
                    {ct("sd_cancel")}
                  </button>
                ) : null}
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ReportDesk({ studios }: { studios: StudioSummary[] }) {
  const [reports, setReports] = useState<SocialReport[] | null>(null);
  const [member, setMember] = useState("");
  const [messages, setMessages] = useState<PublicMessage[] | null>(null);
  const [asking, setAsking] = useState<PublicMessage>();
  const [problem, setProblem] = useState<string>();
  const [done, setDone] = useState<string>();
  const load = async () => {
    try {
      setReports(await studioStaffApi.reports());
      setMessages(member ? (await studioStaffApi.studio(Number(member))).messages : null);
      setProblem(undefined);
    } catch (e) {
      setProblem(codeOf(e));
    }
  };
  useEffect(() => void load(), [member]);
  return (
    <section class="c-card" aria-labelledby="sr-h" data-testid="studio-reports">
      <h2 id="sr-h">{ct("sr_title")}</h2>
      <p class="c-muted">{ct("sr_hint")}</p>
      <label>
        {ct("sr_studio")}
        <select value={member} onChange={(e) => setMember(e.currentTarget.value)} data-testid="report-studio">
          <option value="">{ct("sd_pick")}</option>
          {studios.map((s) => (
            <option key={s.member} value={String(s.member)}>
              {s.name}
            </option>
          ))}
        </select>
      </label>
      <Problem code={problem} />
      <p class="c-ok" role="status" data-testid="report-status">
        {done ?? ""}
      </p>
      {messages === null ? null : messages.length === 0 ? (
        <p>{ct("sr_noMessages")}</p>
      ) : (
        <ul class="c-overdue c-published" data-testid="published-messages">
          {messages.map((m) => (
            <li key={m.id} data-testid={`published-${m.id}`}>
              <p>
                <strong>{m.title ?? m.text.slice(0, 30)}</strong>　{ct("so_from", { name: m.sender_name })}
              </p>
              <p class="c-muted">{m.text}</p>
              {m.reported ? (
                <p>{ct("sr_filed")}</p>
              ) : (
                <button type="button" class="c-button" onClick={() => setAsking(m)} data-testid={`to-report-${m.id}`}>
                  {ct("sr_file")}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {asking ? (
        <AskText
          title={ct("sr_askTitle", { title: asking.title ?? asking.text.slice(0, 20) })}
          hint={ct("sr_askHint")}
          label={ct("sr_askLabel")}
          ok={ct("sr_file")}
          scope="sr"
          act={(title) => studioStaffApi.command({ type: "message_to_report", message: asking.id, title })}
          done={() => {
            setDone(ct("sr_done", { title: asking.title ?? asking.text.slice(0, 20) }));
            setAsking(undefined);
            void load();
          }}
          cancel={() => setAsking(undefined)}
        />
      ) : null}
      <h3>{ct("sr_list")}</h3>
      {reports === null ? null : reports.length === 0 ? (
        <p data-testid="reports-none">{ct("sr_none")}</p>
      ) : (
        <ul class="c-overdue c-reports" data-testid="report-list">
          {reports.map((r) => (
            <li key={r.id} data-testid={`report-${r.id}`}>
              <p>
                <strong>{r.title}</strong>
              </p>
              <p>{r.text}</p>
              <p class="c-muted">
                {ct("so_to", { name: r.message.studio_name })}　{ct("so_from", { name: r.message.sender_name })}　{ct("sr_at", { when: localTime(r.at, { dateStyle: "short", timeStyle: "short", timeZone: "Asia/Shanghai" }), name: r.by_name })}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
