// Attendance at a glance (出席情况) on a live meeting's page: how many of the invited
// have checked in and how many are online now, the venues' head counts, and who has not
// checked in yet (the people the office calls). Read from the room every 5 seconds.
import { useEffect, useState } from "preact/hooks";
import type { Attendance } from "../protocol/Attendance";
import { meetingsApi, type Invitee } from "./api";
import { codeOf, Problem } from "./common";
import { ct } from "./strings";

/** What the office counts: everyone invited to take part, not the staff who run it. */
const COUNTED: Invitee["role"][] = ["member", "respondent", "venue"];

export function LiveAttendance({ room, invitees }: { room: string; invitees: Invitee[] }) {
  const [rows, setRows] = useState<Attendance[]>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    let live = true;
    const load = () =>
      meetingsApi.attendance(room).then(
        (a) => live && (setRows(a), setProblem(undefined)),
        (e) => live && setProblem(codeOf(e)),
      );
    void load();
    const timer = setInterval(load, 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [room]);
  const byId = new Map((rows ?? []).map((r) => [r.participant, r]));
  const invited = invitees.filter((i) => COUNTED.includes(i.role));
  const checkedIn = invited.filter((i) => byId.get(i.participant)?.checked_in_at !== undefined);
  const online = invited.filter((i) => byId.get(i.participant)?.present);
  const missing = invited.filter((i) => byId.get(i.participant)?.checked_in_at === undefined);
  const venues = (rows ?? []).filter((r) => r.role === "venue");
  return (
    <section class="c-card" aria-labelledby="attendance-h" data-testid="live-attendance">
      <h3 id="attendance-h">{ct("at_title")}</h3>
      <Problem code={problem} />
      {rows ? (
        <>
          <div class="c-figures" role="status" aria-live="polite">
            <p>
              <strong data-testid="checked-in-count">{checkedIn.length}</strong> / {invited.length}
              <span>{ct("at_checkedIn")}</span>
            </p>
            <p>
              <strong data-testid="online-count">{online.length}</strong>
              <span>{ct("at_online")}</span>
            </p>
          </div>
          {venues.length > 0 ? (
            <ul class="c-rooms">
              {venues.map((v) => (
                <li key={v.participant}>
                  <span>{v.name}</span>
                  <span class="c-muted">
                    {v.present ? ct("at_venueOnline") : ct("at_venueOffline")}
                    {v.head_count !== undefined ? ` · ${ct("at_heads", { n: v.head_count })}` : ""}
                  </span>
                </li>
              ))}
            </ul>
          ) : null}
          {missing.length > 0 ? (
            <p data-testid="not-checked-in">
              <span class="c-strong">{ct("at_missing", { n: missing.length })}</span>
              {missing.map((i) => i.name).join("、")}
            </p>
          ) : invited.length > 0 ? (
            <p class="c-ok" data-testid="all-checked-in">
              {ct("at_all")}
            </p>
          ) : (
            <p class="c-muted">{ct("at_nobodyInvited")}</p>
          )}
        </>
      ) : problem ? null : (
        <p>{ct("loading")}</p>
      )}
    </section>
  );
}
