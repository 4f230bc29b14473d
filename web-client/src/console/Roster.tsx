// The roster of members (委员名册): the list with search, an import from the office's
// Excel or CSV file with a preview of every row (new, update, error) before anything is
// saved, and the CSV export. Admins see whole phones, clerks masked ones.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, rosterExportUrl, type Member, type Preview, type PreviewRow, type Roster as RosterList, type RowError } from "./api";
import { codeOf, Problem } from "./common";
import { ct, type ConsoleKey } from "./strings";

/** What a row's problem says, in the user's language. */
function rowErrorText(e: RowError): string {
  if (e.code === "too_long") return ct("re_too_long", { field: ct(`col_${e.field ?? "number"}` as ConsoleKey) });
  if (e.code === "number_duplicate") return ct("re_number_duplicate", { row: e.row ?? "?" });
  return ct(`re_${e.code}` as ConsoleKey);
}

function cell(text: string | null | undefined): string {
  return text ? text : "—";
}

export function Roster() {
  const [list, setList] = useState<RosterList>();
  const [query, setQuery] = useState("");
  const [problem, setProblem] = useState<string>();
  const [message, setMessage] = useState<string>();
  const [importing, setImporting] = useState(false);
  const messageRef = useRef<HTMLParagraphElement>(null);
  const importButton = useRef<HTMLButtonElement>(null);
  const load = (q = query) =>
    api.roster(q).then(
      (l) => {
        setList(l);
        setProblem(undefined);
      },
      (e) => setProblem(codeOf(e)),
    );
  useEffect(() => {
    const t = setTimeout(() => void load(query), 200);
    return () => clearTimeout(t);
  }, [query]);
  useEffect(() => {
    if (message) messageRef.current?.focus();
  }, [message]);

  if (importing)
    return (
      <Import
        done={async (text) => {
          setImporting(false);
          setMessage(text);
          await load();
        }}
        cancel={() => {
          setImporting(false);
          setTimeout(() => importButton.current?.focus(), 0);
        }}
      />
    );

  const members = list?.members ?? [];
  return (
    <section class="c-card" aria-labelledby="roster-h" data-testid="roster">
      <div class="c-row c-head">
        <h2 id="roster-h">{ct("roster")}</h2>
        {list ? (
          <span class="c-muted" data-testid="roster-summary">
            {ct("rosterSummary", { total: list.total, active: list.active })}
          </span>
        ) : null}
        <span class="c-grow" />
        <button
          type="button"
          class="c-primary"
          ref={importButton}
          data-testid="import-roster"
          onClick={() => {
            setMessage(undefined);
            setImporting(true);
          }}
        >
          {ct("importRoster")}
        </button>
        <a class="c-button" href={rosterExportUrl} download="委员名册.csv" data-testid="export-roster">
          {ct("exportCsv")}
        </a>
      </div>
      {message ? (
        <p class="c-done" role="status" tabIndex={-1} ref={messageRef} data-testid="roster-message">
          {message}
        </p>
      ) : null}
      <label class="c-search">
        {ct("rosterSearch")}
        <input type="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)} data-testid="roster-search" />
      </label>
      <Problem code={problem} />
      {list && members.length === 0 ? <p class="c-muted">{query.trim() ? ct("rosterNoMatch") : ct("rosterEmpty")}</p> : null}
      {members.length > 0 ? (
        <div class="c-scroll">
          <table class="c-table" data-testid="roster-list">
            <thead>
              <tr>
                <th scope="col">{ct("col_number")}</th>
                <th scope="col">{ct("col_name")}</th>
                <th scope="col">{ct("col_sector")}</th>
                <th scope="col">{ct("col_venue")}</th>
                <th scope="col">{ct("col_phone")}</th>
                <th scope="col">{ct("col_status")}</th>
                <th scope="col">{ct("col_action")}</th>
              </tr>
            </thead>
            <tbody>
              {members.map((m) => (
                <MemberRow
                  key={m.id}
                  member={m}
                  toggled={async (name, active) => {
                    // The list first, so what the message says is already shown.
                    await load();
                    setMessage(ct(active ? "reactivated" : "deactivated", { name }));
                  }}
                  failed={setProblem}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function MemberRow({ member: m, toggled, failed }: { member: Member; toggled: (name: string, active: boolean) => void; failed: (code: string) => void }) {
  return (
    <tr class={m.active ? "" : "c-inactive"}>
      <td data-label={ct("col_number")}>{cell(m.number)}</td>
      <th scope="row" data-label={ct("col_name")}>
        {m.name}
      </th>
      <td data-label={ct("col_sector")}>{cell(m.sector)}</td>
      <td data-label={ct("col_venue")}>{cell(m.venue)}</td>
      <td data-label={ct("col_phone")} class="c-nowrap">
        {cell(m.phone)}
      </td>
      <td data-label={ct("col_status")}>{m.active ? ct("memberActive") : ct("memberInactive")}</td>
      <td data-label={ct("col_action")}>
        <button
          type="button"
          aria-label={`${m.active ? ct("deactivate") : ct("reactivate")} ${m.name}`}
          onClick={async () => {
            try {
              await api.setMemberActive(m.id, !m.active);
              toggled(m.name, !m.active);
            } catch (e) {
              failed(codeOf(e));
            }
          }}
        >
          {m.active ? ct("deactivate") : ct("reactivate")}
        </button>
      </td>
    </tr>
  );
}

/** Choose a file, see every row's outcome, then confirm (only when no row has an error). */
function Import({ done, cancel }: { done: (message: string) => void; cancel: () => void }) {
  const [file, setFile] = useState<File>();
  const [preview, setPreview] = useState<Preview>();
  const [busy, setBusy] = useState<"reading" | "saving">();
  const [problem, setProblem] = useState<string>();
  const input = useRef<HTMLInputElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const summary = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    if (preview) summary.current?.focus();
  }, [preview]);

  const choose = async (chosen: File | undefined) => {
    if (!chosen) return;
    setFile(chosen);
    setPreview(undefined);
    setProblem(undefined);
    setBusy("reading");
    try {
      setPreview(await api.previewRoster(chosen));
    } catch (e) {
      setProblem(codeOf(e));
    } finally {
      setBusy(undefined);
      if (input.current) input.current.value = "";
    }
  };
  const counts = preview?.counts;
  const importable = counts ? counts.new + counts.update : 0;
  const blocked = !preview || counts!.error > 0 || importable === 0 || busy !== undefined;
  const errorRows = preview?.rows.filter((r) => r.status === "error") ?? [];

  return (
    <section class="c-card" aria-labelledby="import-h" data-testid="roster-import">
      <h2 id="import-h" tabIndex={-1} ref={heading}>
        {ct("importTitle")}
      </h2>
      {!preview ? (
        <>
          <p>{ct("importHint")}</p>
          <p>{ct("importUpdateHint")}</p>
        </>
      ) : null}
      <div class="c-row">
        <label class="c-file">
          <span class="c-button c-primary-like">{preview || problem ? ct("chooseAnother") : ct("chooseFile")}</span>
          <input
            ref={input}
            type="file"
            accept=".xlsx,.xls,.csv,.txt,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,application/vnd.ms-excel"
            class="c-visually-hidden"
            onChange={(e) => void choose(e.currentTarget.files?.[0])}
            data-testid="roster-file"
          />
        </label>
        <button type="button" onClick={cancel} data-testid="import-cancel">
          {ct("cancel")}
        </button>
      </div>
      {busy === "reading" ? (
        <p role="status" class="c-big">
          {ct("previewing")}
        </p>
      ) : null}
      <Problem code={problem} />
      {preview && counts ? (
        <>
          <div class={`c-summary ${counts.error > 0 ? "c-summary-bad" : "c-summary-ok"}`} data-testid="preview-summary">
            <h3 tabIndex={-1} ref={summary}>
              {ct("previewOf", { name: file?.name ?? preview.filename ?? "" })}
            </h3>
            <p class="c-big" data-testid="preview-counts">
              {ct("countsLine", counts)}
            </p>
            <p class="c-strong">{ct("notSavedYet")}</p>
            {counts.error > 0 ? (
              <>
                <p class="problem" role="alert" data-testid="preview-has-errors">
                  {ct("hasErrors", { n: counts.error })}
                </p>
                <ul class="c-error-list">
                  {errorRows.slice(0, 10).map((r) => (
                    <li key={r.row}>
                      {ct("rowErrors", { row: r.row, errors: r.errors.map(rowErrorText).join(ct("sep")) })}
                    </li>
                  ))}
                </ul>
              </>
            ) : importable > 0 ? (
              <p class="c-ok">{ct("noErrors")}</p>
            ) : null}
            {preview.ignored_columns.length > 0 ? <p class="c-muted">{ct("ignoredColumns", { cols: preview.ignored_columns.join("、") })}</p> : null}
            <div class="c-row">
              <button
                type="button"
                class="c-primary"
                disabled={blocked}
                aria-describedby={counts.error > 0 ? "confirm-why" : undefined}
                data-testid="confirm-import"
                onClick={async () => {
                  if (!file) return;
                  setBusy("saving");
                  try {
                    const r = await api.importRoster(file);
                    done(ct("imported", r));
                  } catch (e) {
                    setProblem(codeOf(e));
                    setBusy(undefined);
                  }
                }}
              >
                {busy === "saving" ? ct("importing") : ct("confirmImport", { n: importable })}
              </button>
              {counts.error > 0 ? (
                <span id="confirm-why" class="c-muted">
                  {ct("confirmDisabled")}
                </span>
              ) : null}
            </div>
          </div>
          <div class="c-scroll">
            <table class="c-table" data-testid="preview-table">
              <thead>
                <tr>
                  <th scope="col">{ct("col_row")}</th>
                  <th scope="col">{ct("col_status")}</th>
                  <th scope="col">{ct("col_number")}</th>
                  <th scope="col">{ct("col_name")}</th>
                  <th scope="col">{ct("col_sector")}</th>
                  <th scope="col">{ct("col_venue")}</th>
                  <th scope="col">{ct("col_phone")}</th>
                  <th scope="col">{ct("col_note")}</th>
                </tr>
              </thead>
              <tbody>
                {preview.rows.map((r) => (
                  <PreviewLine key={r.row} row={r} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}

/** What an update changes: each field the file has that differs, with its old value. */
function changes(r: PreviewRow): string {
  const m = r.current;
  if (!m) return "";
  const fields: [ConsoleKey, string | null, string][] = [
    ["col_name", r.name, m.name],
    ["col_sector", r.sector, m.sector],
    ["col_venue", r.venue, m.venue],
    ["col_phone", r.phone || null, m.phone],
  ];
  const changed = fields.filter(([, now, was]) => now !== null && now !== was).map(([key, , was]) => ct("was", { field: ct(key), value: was || "—" }));
  return changed.length ? changed.join(ct("sep")) : ct("noChange");
}

function PreviewLine({ row: r }: { row: PreviewRow }) {
  const note = r.status === "error" ? r.errors.map(rowErrorText).join(ct("sep")) : r.status === "update" ? changes(r) : "";
  return (
    <tr class={`c-status-${r.status}`} data-testid={`preview-row-${r.row}`}>
      <td data-label={ct("col_row")}>{r.row}</td>
      <td data-label={ct("col_status")}>
        <span class={`c-badge c-badge-${r.status}`}>{ct(`status_${r.status}`)}</span>
      </td>
      <td data-label={ct("col_number")}>{cell(r.number)}</td>
      <th scope="row" data-label={ct("col_name")}>
        {cell(r.name)}
      </th>
      <td data-label={ct("col_sector")}>{cell(r.sector)}</td>
      <td data-label={ct("col_venue")}>{cell(r.venue)}</td>
      <td data-label={ct("col_phone")} class="c-nowrap">
        {cell(r.phone)}
      </td>
      <td data-label={ct("col_note")} class={`c-note${r.status === "error" ? " c-note-bad" : ""}`}>
        {note}
      </td>
    </tr>
  );
}
