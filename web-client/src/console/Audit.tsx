// The audit log (操作记录) for admins: the latest staff actions, newest first, and the
// whole log as CSV (UTF-8 with a BOM, Beijing times) to keep or hand to an inspector.
// Reading it is itself written to the log (`export_audit`).
import { useEffect, useState } from "preact/hooks";
import { api, type AuditEntry } from "./api";
import { codeOf, localTime, Problem } from "./common";
import { ct } from "./strings";

/** Entries shown on the page; the CSV has them all. */
const SHOWN = 50;

export function Audit() {
  const [log, setLog] = useState<AuditEntry[]>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    api.audit().then((entries) => setLog([...entries].sort((a, b) => b.id - a.id)), (e) => setProblem(codeOf(e)));
  }, []);
  return (
    <section class="c-card" aria-labelledby="audit-h" data-testid="audit">
      <div class="c-row">
        <h2 id="audit-h">{ct("au_title")}</h2>
        <span class="c-grow" />
        <a class="c-button" href="/api/v1/staff/audit?format=csv" download data-testid="audit-csv">
          {ct("au_csv")}
        </a>
      </div>
      <p class="c-muted">{ct("au_hint", { n: SHOWN })}</p>
      <Problem code={problem} />
      {log === undefined ? null : log.length === 0 ? (
        <p>{ct("au_none")}</p>
      ) : (
        <div class="c-scroll">
          <table class="c-table" data-testid="audit-list">
            <thead>
              <tr>
                <th scope="col">{ct("au_time")}</th>
                <th scope="col">{ct("au_who")}</th>
                <th scope="col">{ct("au_action")}</th>
                <th scope="col">{ct("au_target")}</th>
              </tr>
            </thead>
            <tbody>
              {log.slice(0, SHOWN).map((e) => (
                <tr key={e.id}>
                  <td>{localTime(e.at, { dateStyle: "short", timeStyle: "medium" })}</td>
                  <td>{e.staff}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td>{e.target}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
