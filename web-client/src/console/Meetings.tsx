// The meetings (会议) tab: the list (status chips, search), the new-meeting form (time,
// place, description, agenda, venues), a meeting's page (its details, edit while it has
// not opened, the invitees from the roster with their own links: copy, QR code, revoke
// and re-issue; copy all links; print the invitations; duplicate; open the host view)
// and the printable A4 sheet of invitation cards. The route is in the hash:
// `#meetings/<id>` and `#meetings/<id>/print`.
import { useEffect, useState } from "preact/hooks";
import {
  api,
  hostLink,
  meetingsApi,
  MINUTES_FORMATS,
  minutesUrl,
  type AgendaEntry,
  type Invitee,
  type InviteRole,
  type Me,
  type Meeting,
  type MeetingRecording,
  type MeetingInput,
  type MeetingStatus,
  type Member,
  type VenueEntry,
} from "./api";
import { codeOf, localTime, Problem } from "./common";
import { sizeText } from "../live/api";
import { LiveAttendance } from "./LiveAttendance";
import { ct } from "./strings";

const ROLES: InviteRole[] = ["member", "respondent", "host", "recorder", "venue"];

/** The meeting route in the hash: a meeting's page or its print sheet. */
export function route(): { id: string; print: boolean } | null {
  const m = /^#meetings\/([A-Za-z0-9_-]+)(\/print)?$/.exec(location.hash);
  return m ? { id: m[1], print: Boolean(m[2]) } : null;
}

export function useRoute() {
  const [r, setR] = useState(route());
  useEffect(() => {
    const on = () => setR(route());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return r;
}

const go = (hash: string) => {
  location.hash = hash;
};

const fmt = localTime;

/** A meeting's time: date, weekday, start and end. */
export function when(m: Pick<Meeting, "starts_at" | "ends_at">): string {
  if (m.starts_at === null) return ct("mt_noTime");
  const day = fmt(m.starts_at, { year: "numeric", month: "long", day: "numeric", weekday: "short" });
  const from = fmt(m.starts_at, { hour: "2-digit", minute: "2-digit" });
  const to = m.ends_at === null ? "" : `–${fmt(m.ends_at, { hour: "2-digit", minute: "2-digit" })}`;
  return `${day} ${from}${to}`;
}

/** Copy text to the clipboard; false when the browser refused. */
async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function Chip({ status }: { status: MeetingStatus }) {
  return <span class={`c-badge c-chip-${status}`}>{ct(`mt_status_${status}`)}</span>;
}

export function Meetings({ me }: { me: Me }) {
  const r = useRoute();
  if (r) return r.print ? <PrintSheet id={r.id} /> : <MeetingPage id={r.id} />;
  return <MeetingList me={me} />;
}

function MeetingList({ me }: { me: Me }) {
  const [list, setList] = useState<Meeting[]>([]);
  const [problem, setProblem] = useState<string>();
  const [query, setQuery] = useState("");
  const [filter, setFilter] = useState<"all" | MeetingStatus>("all");
  const [created, setCreated] = useState<Meeting>();
  const load = () => meetingsApi.list().then(setList, (e) => setProblem(codeOf(e)));
  useEffect(() => void load(), []);
  const q = query.trim();
  const shown = list
    .filter((m) => filter === "all" || m.status === filter)
    .filter((m) => !q || m.title.includes(q) || m.id.includes(q) || m.place.includes(q));
  return (
    <div class="c-columns c-even">
      <section class="c-card c-list" aria-labelledby="meetings-h">
        <h2 id="meetings-h">{ct("mt_list")}</h2>
        <div class="c-row">
          <input type="search" aria-label={ct("search")} placeholder={ct("search")} value={query} onInput={(e) => setQuery(e.currentTarget.value)} data-testid="search" />
        </div>
        <div class="c-row" role="group" aria-label={ct("mt_list")}>
          {(["all", "scheduled", "live", "closed"] as const).map((f) => (
            <button key={f} type="button" aria-pressed={filter === f} class={filter === f ? "on" : ""} onClick={() => setFilter(f)}>
              {f === "all" ? ct("filter_all") : f === "closed" ? ct("filter_closed") : ct(`mt_filter_${f}`)}
            </button>
          ))}
        </div>
        <Problem code={problem} />
        {shown.length === 0 ? <p class="c-muted">{ct("noMeetings")}</p> : null}
        <ul class="c-rooms" data-testid="meetings">
          {shown.map((m) => (
            <li key={m.id}>
              <div>
                <strong>
                  {m.title} <Chip status={m.status} />
                </strong>
                <span class="c-muted">
                  {ct(`kind_${m.kind}`)} · {when(m)}
                  {m.place ? ` · ${m.place}` : ""}
                </span>
              </div>
              <span class="c-row">
                {m.prepared ? (
                  <button type="button" onClick={() => go(`#meetings/${m.id}`)} aria-label={`${ct("mt_openMeeting")}：${m.title}`}>
                    {ct("mt_openMeeting")}
                  </button>
                ) : null}
                {m.status !== "closed" ? (
                  <button
                    type="button"
                    onClick={async () => {
                      try {
                        const link = m.prepared ? await meetingsApi.host(m.id) : await hostLink(m.id, me.name);
                        window.open(link, "_blank", "noopener");
                      } catch (e) {
                        setProblem(codeOf(e));
                      }
                    }}
                  >
                    {ct("mt_hostView")}
                  </button>
                ) : null}
              </span>
            </li>
          ))}
        </ul>
      </section>
      <section class="c-card" aria-labelledby="new-meeting-h">
        <h2 id="new-meeting-h">{ct("newMeeting")}</h2>
        <MeetingForm
          testid="new-meeting"
          submitLabel={ct("create")}
          submitTestid="create-meeting"
          onSubmit={async (input) => {
            const m = await meetingsApi.create(input);
            setCreated(m);
            await load();
          }}
        />
        {created ? (
          <p class="c-ok" role="status">
            {ct("created", { title: created.title })}{" "}
            <button type="button" onClick={() => go(`#meetings/${created.id}`)} data-testid="open-created">
              {ct("mt_openCreated", { title: created.title })}
            </button>
          </p>
        ) : null}
      </section>
    </div>
  );
}

const pad = (n: number) => String(n).padStart(2, "0");
const dateOf = (ms: number) => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};
const timeOf = (ms: number) => {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

/** Tomorrow at 09:00, local time. */
function tomorrowNine(): number {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  d.setHours(9, 0, 0, 0);
  return d.getTime();
}

/** The new-meeting form, or the edit form of `meeting`. */
function MeetingForm({
  meeting,
  testid,
  submitLabel,
  submitTestid,
  onSubmit,
  onCancel,
}: {
  meeting?: Meeting;
  testid: string;
  submitLabel: string;
  submitTestid: string;
  onSubmit: (input: MeetingInput) => Promise<void>;
  onCancel?: () => void;
}) {
  const start0 = meeting?.starts_at ?? tomorrowNine();
  const end0 = meeting?.ends_at ?? start0 + 2 * 3600 * 1000;
  const [title, setTitle] = useState(meeting?.title ?? "");
  const [kind, setKind] = useState<Meeting["kind"]>(meeting?.kind ?? "consultation");
  const [date, setDate] = useState(dateOf(start0));
  const [start, setStart] = useState(timeOf(start0));
  const [end, setEnd] = useState(timeOf(end0));
  const [place, setPlace] = useState(meeting?.place ?? "");
  const [description, setDescription] = useState(meeting?.description ?? "");
  const [agenda, setAgenda] = useState<AgendaEntry[]>(meeting?.agenda ?? []);
  const [venues, setVenues] = useState<VenueEntry[]>(meeting?.venues ?? []);
  const [livestream, setLivestream] = useState(meeting?.livestream ?? false);
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const setItem = (i: number, patch: Partial<AgendaEntry>) => setAgenda(agenda.map((a, j) => (j === i ? { ...a, ...patch } : a)));
  const move = (i: number, by: number) => {
    const next = [...agenda];
    const [x] = next.splice(i, 1);
    next.splice(i + by, 0, x);
    setAgenda(next);
  };
  const setVenue = (i: number, patch: Partial<VenueEntry>) => setVenues(venues.map((v, j) => (j === i ? { ...v, ...patch } : v)));
  return (
    <form
      class="c-form"
      data-testid={testid}
      onSubmit={async (e) => {
        e.preventDefault();
        const starts_at = new Date(`${date}T${start}`).getTime();
        let ends_at = new Date(`${date}T${end}`).getTime();
        if (!(ends_at > starts_at)) ends_at = starts_at + 2 * 3600 * 1000;
        setBusy(true);
        setProblem(undefined);
        try {
          await onSubmit({
            title,
            kind,
            starts_at,
            ends_at,
            place,
            description,
            agenda: agenda.filter((a) => a.title.trim()),
            venues: venues.filter((v) => v.name.trim()),
            livestream,
          });
          if (!meeting) {
            setLivestream(kind === "lecture");
            setTitle("");
            setAgenda([]);
            setVenues([]);
            setDescription("");
          }
        } catch (err) {
          setProblem(codeOf(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <label>
        {ct("meetingTitle")}
        <input required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="meeting-title" />
      </label>
      {meeting ? null : (
        <fieldset>
          <legend>{ct("kind")}</legend>
          {(["consultation", "lecture"] as const).map((k) => (
            <label key={k} class="c-choice">
              <input
                type="radio"
                name={`kind-${testid}`}
                checked={kind === k}
                onChange={() => {
                  setKind(k);
                  // A lecture (委员讲堂) is usually streamed: offered on, and can be turned off.
                  setLivestream(k === "lecture");
                }}
              />
              {ct(`kind_${k}`)}
            </label>
          ))}
        </fieldset>
      )}
      <label class="c-choice">
        <input type="checkbox" checked={livestream} onChange={(e) => setLivestream(e.currentTarget.checked)} data-testid="meeting-livestream" />
        {ct("mt_livestream")}
      </label>
      <p class="c-muted">{ct("mt_livestreamHint")}</p>
      <div class="c-row c-when">
        <label>
          {ct("mt_date")}
          <input type="date" required value={date} onInput={(e) => setDate(e.currentTarget.value)} data-testid="meeting-date" />
        </label>
        <label>
          {ct("mt_start")}
          <input type="time" required value={start} onInput={(e) => setStart(e.currentTarget.value)} data-testid="meeting-start" />
        </label>
        <label>
          {ct("mt_end")}
          <input type="time" required value={end} onInput={(e) => setEnd(e.currentTarget.value)} data-testid="meeting-end" />
        </label>
      </div>
      <label>
        {ct("mt_place")}
        <input maxLength={200} value={place} onInput={(e) => setPlace(e.currentTarget.value)} data-testid="meeting-place" />
      </label>
      <label>
        {ct("mt_description")}
        <textarea rows={3} maxLength={4000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} data-testid="meeting-description" />
      </label>
      <fieldset class="c-stack">
        <legend>{ct("mt_agenda")}</legend>
        {agenda.length === 0 ? <p class="c-muted">{ct("mt_noItems")}</p> : null}
        <ol class="c-items" data-testid="agenda-editor">
          {agenda.map((a, i) => (
            <li key={i} class="c-item">
              <label class="c-grow">
                {ct("mt_agendaItem", { n: i + 1 })}
                <input required maxLength={200} value={a.title} onInput={(e) => setItem(i, { title: e.currentTarget.value })} data-testid={`item-title-${i}`} />
              </label>
              <label class="c-short">
                {ct("mt_itemLimit")}
                <input
                  type="number"
                  min={0}
                  max={60}
                  inputMode="numeric"
                  value={a.limit_s ? a.limit_s / 60 : ""}
                  onInput={(e) => setItem(i, { limit_s: Math.round(Number(e.currentTarget.value || 0) * 60) })}
                  data-testid={`item-limit-${i}`}
                />
              </label>
              <span class="c-row">
                <button type="button" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`${ct("mt_up")}：${ct("mt_agendaItem", { n: i + 1 })}`}>
                  ↑ {ct("mt_up")}
                </button>
                <button type="button" disabled={i === agenda.length - 1} onClick={() => move(i, 1)} aria-label={`${ct("mt_down")}：${ct("mt_agendaItem", { n: i + 1 })}`}>
                  ↓ {ct("mt_down")}
                </button>
                <button type="button" onClick={() => setAgenda(agenda.filter((_, j) => j !== i))} aria-label={`${ct("mt_remove")}：${ct("mt_agendaItem", { n: i + 1 })}`}>
                  {ct("mt_remove")}
                </button>
              </span>
            </li>
          ))}
        </ol>
        <button type="button" onClick={() => setAgenda([...agenda, { title: "", limit_s: 300 }])} data-testid="add-item">
          ＋ {ct("mt_addItem")}
        </button>
      </fieldset>
      <fieldset class="c-stack">
        <legend>{ct("mt_venues")}</legend>
        {venues.length === 0 ? <p class="c-muted">{ct("mt_noVenues")}</p> : null}
        {venues.map((v, i) => (
          <div key={i} class="c-item">
            <label class="c-grow">
              {ct("mt_venueName")}
              <input required maxLength={64} value={v.name} onInput={(e) => setVenue(i, { name: e.currentTarget.value })} />
            </label>
            <label class="c-grow">
              {ct("mt_venueContact")}
              <input maxLength={100} value={v.contact} onInput={(e) => setVenue(i, { contact: e.currentTarget.value })} />
            </label>
            <button type="button" onClick={() => setVenues(venues.filter((_, j) => j !== i))} aria-label={`${ct("mt_remove")}：${v.name || ct("mt_venueName")}`}>
              {ct("mt_remove")}
            </button>
          </div>
        ))}
        <button type="button" onClick={() => setVenues([...venues, { name: "", contact: "" }])} data-testid="add-venue">
          ＋ {ct("mt_addVenue")}
        </button>
      </fieldset>
      <Problem code={problem} />
      <span class="c-row">
        <button type="submit" class="c-primary" disabled={busy} data-testid={submitTestid}>
          {submitLabel}
        </button>
        {onCancel ? (
          <button type="button" onClick={onCancel}>
            {ct("mt_cancelEdit")}
          </button>
        ) : null}
      </span>
    </form>
  );
}

/** The text for a messaging group: the meeting, then one line per person with their link. */
function allLines(m: Meeting): string {
  const head = ct("mt_linesHead", { title: m.title, when: when(m), place: m.place || "—" });
  const lines = (m.invitees ?? []).map((p) => `${p.name}（${ct(`mt_role_${p.role}`)}）：${p.link}`);
  return `${head}\n${lines.join("\n")}\n`;
}

/** A notice for the next meeting page shown (after duplicating, on the copy's page). */
let pendingNotice: string | undefined;

function MeetingPage({ id }: { id: string }) {
  const [m, setM] = useState<Meeting>();
  const [problem, setProblem] = useState<string>();
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState<string>();
  const [manual, setManual] = useState<string>();
  const load = () => meetingsApi.get(id).then(setM, (e) => setProblem(codeOf(e)));
  useEffect(() => {
    setM(undefined);
    setEditing(false);
    setNotice(pendingNotice);
    pendingNotice = undefined;
    void load();
  }, [id]);
  const copied = async (text: string, done: string) => {
    if (await copy(text)) {
      setManual(undefined);
      setNotice(done);
    } else {
      setNotice(ct("mt_copyFailed"));
      setManual(text);
    }
  };
  if (!m) {
    return (
      <section class="c-card">
        <button type="button" class="c-back" onClick={() => go("#")}>
          ← {ct("mt_back")}
        </button>
        {problem ? <Problem code={problem} /> : <p>{ct("loading")}</p>}
      </section>
    );
  }
  const invitees = m.invitees ?? [];
  return (
    <div class="c-page" data-testid="meeting-page">
      <div class="c-row">
        <button type="button" class="c-back" onClick={() => go("#")} data-testid="back">
          ← {ct("mt_back")}
        </button>
      </div>
      <section class="c-card" aria-labelledby="meeting-h">
        <h2 id="meeting-h">
          {m.title} <Chip status={m.status} />
        </h2>
        <p class="c-big">
          {ct(`kind_${m.kind}`)} · {when(m)}
          {m.place ? ` · ${m.place}` : ""}
        </p>
        <div class="c-row c-actions">
          {m.status !== "closed" ? (
            <button
              type="button"
              class="c-primary"
              data-testid="host"
              onClick={async () => {
                try {
                  window.open(await meetingsApi.host(m.id), "_blank", "noopener");
                } catch (e) {
                  setProblem(codeOf(e));
                }
              }}
            >
              {ct("mt_host")}
            </button>
          ) : null}
          <a class="c-button" href={`#meetings/${m.id}/print`} target="_blank" rel="noopener" data-testid="print">
            {ct("mt_print")}
          </a>
          <button type="button" disabled={invitees.length === 0} data-testid="copy-all" onClick={() => copied(allLines(m), ct("mt_copyAllDone", { n: invitees.length }))}>
            {ct("mt_copyAll")}
          </button>
          <button
            type="button"
            data-testid="duplicate"
            onClick={async () => {
              try {
                const copy = await meetingsApi.duplicate(m.id);
                pendingNotice = ct("mt_duplicated");
                go(`#meetings/${copy.id}`);
              } catch (e) {
                setProblem(codeOf(e));
              }
            }}
          >
            {ct("mt_duplicate")}
          </button>
          {m.status === "scheduled" && !editing ? (
            <button type="button" onClick={() => setEditing(true)} data-testid="edit">
              {ct("mt_edit")}
            </button>
          ) : null}
        </div>
        {m.status === "closed" ? <MinutesDownloads id={m.id} /> : null}
        {notice ? (
          <p class="c-done" role="status" data-testid="notice">
            {notice}
          </p>
        ) : null}
        {manual ? <textarea class="c-manual" readOnly rows={6} value={manual} aria-label={ct("mt_copyAll")} onFocus={(e) => e.currentTarget.select()} /> : null}
        <Problem code={problem} />
        {m.status !== "scheduled" ? <p class="c-muted">{ct("mt_lockedHint")}</p> : null}
        {editing ? (
          <MeetingForm
            meeting={m}
            testid="edit-meeting"
            submitLabel={ct("mt_save")}
            submitTestid="save-meeting"
            onCancel={() => setEditing(false)}
            onSubmit={async (input) => {
              setM(await meetingsApi.edit(m.id, input));
              setEditing(false);
              setNotice(ct("mt_saved"));
            }}
          />
        ) : (
          <Details m={m} />
        )}
      </section>
      {m.status === "live" ? <LiveAttendance room={m.id} invitees={invitees} /> : null}
      {m.recordings?.length ? <Recordings recordings={m.recordings} /> : null}
      <Invitees m={m} setM={setM} onNotice={setNotice} copied={copied} />
      {m.audience_link ? (
        <section class="c-card" aria-labelledby="audience-h">
          <h3 id="audience-h">{ct("mt_audience")}</h3>
          <code class="c-code">{m.audience_link}</code>
          <button type="button" class="c-start" onClick={() => copied(m.audience_link ?? "", ct("mt_copied"))}>
            {ct("mt_copyAudience")}
          </button>
          <label>
            {ct("mt_embed")}
            <textarea readOnly rows={3} value={m.embed ?? ""} />
          </label>
          <button type="button" class="c-start" onClick={() => copied(m.embed ?? "", ct("mt_copied"))}>
            {ct("mt_copyEmbed")}
          </button>
        </section>
      ) : null}
    </div>
  );
}

function Details({ m }: { m: Meeting }) {
  return (
    <dl class="c-details">
      {m.description ? (
        <>
          <dt>{ct("mt_about")}</dt>
          <dd class="c-pre">{m.description}</dd>
        </>
      ) : null}
      <dt>{ct("mt_agenda")}</dt>
      <dd>
        {m.agenda.length === 0 ? (
          ct("mt_noItems")
        ) : (
          <ol data-testid="agenda">
            {m.agenda.map((a, i) => (
              <li key={i}>
                {a.title}
                {a.limit_s ? <span class="c-muted">（{ct("mt_minutesEach", { n: Math.round(a.limit_s / 60) })}）</span> : null}
              </li>
            ))}
          </ol>
        )}
      </dd>
      {m.livestream ? (
        <>
          <dt>{ct("mt_livestreamOn")}</dt>
          <dd data-testid="meeting-livestream-shown">{ct("mt_livestreamAuto")}</dd>
        </>
      ) : null}
      {m.venues.length ? (
        <>
          <dt>{ct("mt_venues")}</dt>
          <dd>
            <ul>
              {m.venues.map((v, i) => (
                <li key={i}>
                  {v.name}
                  {v.contact ? ` · ${v.contact}` : ""}
                </li>
              ))}
            </ul>
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function Invitees({
  m,
  setM,
  onNotice,
  copied,
}: {
  m: Meeting;
  setM: (m: Meeting) => void;
  onNotice: (text: string) => void;
  copied: (text: string, done: string) => Promise<void>;
}) {
  const invitees = m.invitees ?? [];
  const [qr, setQr] = useState<number>();
  const [problem, setProblem] = useState<string>();
  const act = async (f: () => Promise<void>) => {
    setProblem(undefined);
    try {
      await f();
    } catch (e) {
      setProblem(codeOf(e));
    }
  };
  return (
    <section class="c-card" aria-labelledby="invitees-h">
      <h2 id="invitees-h">{ct("mt_invitees", { n: invitees.length })}</h2>
      <Problem code={problem} />
      {invitees.length === 0 ? <p class="c-muted">{ct("mt_noInvitees")}</p> : null}
      {invitees.length ? (
        <div class="c-scroll">
          <table class="c-table" data-testid="invitees">
            <thead>
              <tr>
                <th scope="col">{ct("mt_name")}</th>
                <th scope="col">{ct("mt_sector")}</th>
                <th scope="col">{ct("mt_role")}</th>
                <th scope="col">{ct("mt_link")}</th>
              </tr>
            </thead>
            <tbody>
              {invitees.map((p) => (
                <tr key={p.id} data-testid={`invitee-${p.name}`}>
                  <th scope="row" data-label={ct("mt_name")}>
                    {p.name}
                  </th>
                  <td data-label={ct("mt_sector")}>{p.sector || p.venue}</td>
                  <td data-label={ct("mt_role")}>{ct(`mt_role_${p.role}`)}</td>
                  <td data-label={ct("mt_link")} class="c-note">
                    <span class="c-row">
                      <button type="button" onClick={() => copied(p.link, `${ct("mt_copied")}：${p.name}`)} aria-label={ct("mt_copyLinkOf", { name: p.name })} data-testid="copy-link">
                        {ct("mt_copyLink")}
                      </button>
                      <button type="button" aria-expanded={qr === p.id} onClick={() => setQr(qr === p.id ? undefined : p.id)} data-testid="qr">
                        {qr === p.id ? ct("mt_hideQr") : ct("mt_showQr")}
                      </button>
                      <button
                        type="button"
                        data-testid="reissue"
                        onClick={() =>
                          act(async () => {
                            if (!confirm(ct("mt_reissueConfirm", { name: p.name }))) return;
                            const fresh = await meetingsApi.reissue(m.id, p.id);
                            setM({ ...m, invitees: invitees.map((x) => (x.id === p.id ? fresh : x)) });
                            onNotice(ct("mt_reissued", { name: p.name, n: fresh.serial }));
                          })
                        }
                      >
                        {ct("mt_reissue")}
                      </button>
                      <button
                        type="button"
                        onClick={() =>
                          act(async () => {
                            if (!confirm(ct("mt_removeConfirm", { name: p.name }))) return;
                            await meetingsApi.remove(m.id, p.id);
                            setM({ ...m, invitees: invitees.filter((x) => x.id !== p.id) });
                          })
                        }
                      >
                        {ct("mt_removeInvitee")}
                      </button>
                    </span>
                    {qr === p.id ? <img class="c-qr" src={p.qr} alt={ct("mt_qrOf", { name: p.name })} width={200} height={200} /> : null}
                    <span class="c-muted c-small">{ct("mt_serial", { n: p.serial })}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {m.status !== "closed" ? <AddInvitees m={m} setM={setM} /> : null}
    </section>
  );
}

function AddInvitees({ m, setM }: { m: Meeting; setM: (m: Meeting) => void }) {
  const [q, setQ] = useState("");
  const [found, setFound] = useState<Member[]>([]);
  const [roles, setRoles] = useState<Record<number, InviteRole>>({});
  const [problem, setProblem] = useState<string>();
  const [name, setName] = useState("");
  const [sector, setSector] = useState("");
  const [role, setRole] = useState<InviteRole>("respondent");
  const invited = new Set((m.invitees ?? []).map((p) => p.member_id));
  useEffect(() => {
    let live = true;
    api.roster(q).then(
      (r) => live && setFound(r.members.filter((x) => x.active).slice(0, 50)),
      (e) => live && setProblem(codeOf(e)),
    );
    return () => {
      live = false;
    };
  }, [q]);
  const add = async (members: { id: number; role: InviteRole }[], people: { name: string; role: InviteRole; sector: string }[] = []) => {
    setProblem(undefined);
    try {
      const next = await meetingsApi.invite(m.id, members, people);
      setM(next);
    } catch (e) {
      setProblem(codeOf(e));
    }
  };
  const open = found.filter((x) => !invited.has(x.id));
  return (
    <div class="c-stack">
      <h3>{ct("mt_addFromRoster")}</h3>
      <input type="search" aria-label={ct("mt_rosterSearch")} placeholder={ct("mt_rosterSearch")} value={q} onInput={(e) => setQ(e.currentTarget.value)} data-testid="roster-search" />
      <Problem code={problem} />
      <ul class="c-rooms" data-testid="roster-results">
        {found.map((x) => (
          <li key={x.id}>
            <div>
              <strong>{x.name}</strong>
              <span class="c-muted">
                {[x.number, x.sector, x.venue].filter(Boolean).join(" · ")}
              </span>
            </div>
            {invited.has(x.id) ? (
              <span class="c-ok">✓ {ct("mt_added")}</span>
            ) : (
              <span class="c-row">
                <select aria-label={ct("mt_roleFor", { name: x.name })} value={roles[x.id] ?? "member"} onChange={(e) => setRoles({ ...roles, [x.id]: e.currentTarget.value as InviteRole })}>
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {ct(`mt_role_${r}`)}
                    </option>
                  ))}
                </select>
                <button type="button" onClick={() => add([{ id: x.id, role: roles[x.id] ?? "member" }])} aria-label={`${ct("mt_add")}：${x.name}`} data-testid="invite">
                  {ct("mt_add")}
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {open.length > 1 ? (
        <button type="button" class="c-start" onClick={() => add(open.map((x) => ({ id: x.id, role: roles[x.id] ?? "member" })))}>
          {ct("mt_addAllShown", { n: open.length })}
        </button>
      ) : null}
      <form
        class="c-stack"
        onSubmit={async (e) => {
          e.preventDefault();
          await add([], [{ name, role, sector }]);
          setName("");
          setSector("");
        }}
      >
        <h3>{ct("mt_addOther")}</h3>
        <div class="c-row c-when">
          <label>
            {ct("mt_otherName")}
            <input required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="other-name" />
          </label>
          <label>
            {ct("mt_otherSector")}
            <input maxLength={64} value={sector} onInput={(e) => setSector(e.currentTarget.value)} />
          </label>
          <label>
            {ct("mt_role")}
            <select value={role} onChange={(e) => setRole(e.currentTarget.value as InviteRole)} data-testid="other-role">
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {ct(`mt_role_${r}`)}
                </option>
              ))}
            </select>
          </label>
        </div>
        <button type="submit" class="c-start" data-testid="other-add">
          {ct("mt_add")}
        </button>
      </form>
    </div>
  );
}

/** The printable sheet: one card per person, six to an A4 page. */
export function PrintSheet({ id }: { id: string }) {
  const [m, setM] = useState<Meeting>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    meetingsApi.get(id).then(setM, (e) => setProblem(codeOf(e)));
  }, [id]);
  if (!m) return problem ? <Problem code={problem} /> : <p>{ct("loading")}</p>;
  const invitees = m.invitees ?? [];
  const dear = (p: Invitee) => (p.role === "member" ? ct("mt_dear", { name: p.name }) : ct("mt_dearOther", { name: p.name }));
  const windowText = (p: Invitee) =>
    ct("mt_linkWindow", {
      from: fmt(p.not_before * 1000, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }),
      to: fmt(p.expires_at * 1000, { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }),
    });
  return (
    <div class="c-print" data-testid="print-sheet">
      <div class="c-no-print c-card">
        <h2>
          {ct("mt_print")}：{m.title}
        </h2>
        <p>{ct("mt_printHint")}</p>
        <span class="c-row">
          <button type="button" class="c-primary" onClick={() => print()}>
            {ct("mt_printNow")}
          </button>
          <button type="button" onClick={() => go(`#meetings/${m.id}`)}>
            ← {ct("mt_backToMeeting")}
          </button>
        </span>
      </div>
      <div class="c-cards">
        {invitees.map((p) => (
          <article class="c-invite" key={p.id} data-testid="invite-card">
            <header>
              <span class="c-invite-kind">
                {ct(`kind_${m.kind}`)} · {ct("mt_printTitle")}
              </span>
              <strong class="c-invite-name">{dear(p)}</strong>
              <span class="c-invite-sector">
                {[p.sector, ct(`mt_role_${p.role}`)].filter(Boolean).join(" · ")}
              </span>
            </header>
            <p class="c-invite-title">{m.title}</p>
            <p>
              {ct("mt_when")}：{when(m)}
            </p>
            {m.place ? (
              <p>
                {ct("mt_place")}：{m.place}
              </p>
            ) : null}
            <div class="c-invite-body">
              <img src={p.qr} alt={ct("mt_qrOf", { name: p.name })} width={120} height={120} />
              <div>
                <p class="c-invite-scan">{ct("mt_scan")}</p>
                <p class="c-invite-foot">{windowText(p)}</p>
                <p class="c-invite-foot">{ct("mt_serial", { n: p.serial })}</p>
              </div>
            </div>
            <p class="c-invite-link">{p.link}</p>
          </article>
        ))}
      </div>
    </div>
  );
}


/** The recordings of the meeting's livestream, each with its hash as the record holds it. */
function Recordings({ recordings }: { recordings: MeetingRecording[] }) {
  return (
    <section class="c-card" aria-labelledby="recordings-h" data-testid="recordings">
      <h3 id="recordings-h">{ct("mt_recordings")}</h3>
      <p class="c-muted">{ct("mt_recordingsHint")}</p>
      <ul class="c-recordings">
        {recordings.map((r) => (
          <li key={r.file} data-testid="recording">
            <span class="c-big">{ct("mt_recording", { when: localTime(r.at), size: sizeText(r.bytes) })}</span>
            <a class="c-button" href={r.url} download={r.file} data-testid="recording-download">
              {ct("mt_recordingDownload")}
            </a>
            <span class="c-muted">{ct("mt_recordingHash", { seq: r.seq })}</span>
            <code class="c-code c-hash" data-testid="recording-hash">
              {r.sha256}
            </code>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The minutes (会议纪要) of a closed meeting, made from its record, to download. */
function MinutesDownloads({ id }: { id: string }) {
  return (
    <div class="c-row" role="group" aria-labelledby="minutes-h" data-testid="minutes">
      <strong id="minutes-h">{ct("mt_minutes")}</strong>
      {MINUTES_FORMATS.map((f) => (
        <a key={f} class="c-button" href={minutesUrl(id, f)} download data-testid={`minutes-${f}`}>
          {ct(`mt_minutes_${f}`)}
        </a>
      ))}
    </div>
  );
}
