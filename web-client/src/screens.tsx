// The screens: member, host console, audience, venue projector (大屏).
import { useState } from "preact/hooks";
import { t, type Key } from "./i18n";
import type { PollSpec } from "./protocol/PollSpec";
import { describe } from "./livetext";
import { clock, ordered } from "./room";
import { act, room, tokenInUse } from "./store";
import { Compose, Floor, Polls, QueueList, Questions, RequestFloor, Results } from "./parts";
import { MediaPanel, StageView } from "./mediaview";

function Agenda() {
  const r = room.value!.room;
  return (
    <section class="card" aria-labelledby="agenda-h">
      <h2 id="agenda-h">{t("agenda")}</h2>
      <p class="muted">
        {t("session")}: <strong data-testid="session-state">{t(`state_${r.session}` as Key)}</strong>
      </p>
      <ol>
        {r.agenda.map((i) => (
          <li key={i.id} aria-current={i.id === r.current_item ? "step" : undefined} class={i.id === r.current_item ? "current" : ""}>
            {i.title}
          </li>
        ))}
      </ol>
    </section>
  );
}

function CheckIn() {
  const state = room.value!;
  const row = state.room.attendance.find((a) => a.participant === state.you.id);
  if (!row || !["check_in", "in_session", "paused"].includes(state.room.session)) return null;
  return row.checked_in_at ? (
    <p class="ok" role="status">{t("checkedIn")}</p>
  ) : (
    <button class="primary" onClick={() => act({ type: "check_in" })}>
      {t("checkIn")}
    </button>
  );
}

function Chat() {
  const chat = room.value!.room.chat;
  return (
    <section class="card" aria-labelledby="chat-h">
      <h2 id="chat-h">{t("chat")}</h2>
      <ul class="items chat" aria-live="polite">
        {chat.slice(-30).map((m) => (
          <li key={m.id}>
            <strong>{m.from_name}</strong>：{m.text}
          </li>
        ))}
      </ul>
      <Compose label="chat" button="send" send={(text) => ({ type: "send_chat", text })} />
    </section>
  );
}

export function MemberScreen() {
  return (
    <main class="grid">
      <div class="col">
        <CheckIn />
        <MediaPanel />
        <Floor />
        <RequestFloor />
        <QueueList />
      </div>
      <div class="col">
        <Polls canVote={true} />
        <Agenda />
        <Questions canAsk={true} />
        <Chat />
        <Attendance />
      </div>
    </main>
  );
}

function SessionControls() {
  const s = room.value!.room.session;
  const button = (key: Key, type: "open_check_in" | "start_session" | "pause_session" | "resume_session" | "close_session") => (
    <button onClick={() => (type !== "close_session" || confirm(t("closeSession") + "?")) && act({ type })}>{t(key)}</button>
  );
  return (
    <section class="card" aria-labelledby="session-h">
      <h2 id="session-h">
        {t("session")}: <span data-testid="session-state">{t(`state_${s}` as Key)}</span>
      </h2>
      <div class="row">
        {s === "scheduled" ? button("openCheckIn", "open_check_in") : null}
        {s === "scheduled" || s === "check_in" ? button("startSession", "start_session") : null}
        {s === "in_session" ? button("pauseSession", "pause_session") : null}
        {s === "paused" ? button("resumeSession", "resume_session") : null}
        {s !== "closed" ? button("closeSession", "close_session") : null}
      </div>
    </section>
  );
}

function FloorControls() {
  const r = room.value!.room;
  return (
    <section class="card" aria-labelledby="fc-h">
      <h2 id="fc-h">{t("host")}</h2>
      <div class="row">
        <button class="primary" disabled={r.queue.length === 0} onClick={() => act({ type: "grant_floor" })}>
          {t("grantNext")}
        </button>
        {r.floor ? (
          <>
            <button onClick={() => act({ type: "end_turn" })}>{t("endTurn")}</button>
            {r.floor.running_since !== undefined ? (
              <button onClick={() => act({ type: "pause_turn" })}>{t("pauseTurn")}</button>
            ) : (
              <button onClick={() => act({ type: "resume_turn" })}>{t("resumeTurn")}</button>
            )}
            <button onClick={() => act({ type: "extend_turn", seconds: 60 })}>{t("extend")}</button>
            <button onClick={() => act({ type: "shorten_turn", seconds: 60 })}>{t("shorten")}</button>
          </>
        ) : null}
        <button onClick={() => act({ type: "shorten_all", limit_s: 180 })}>{t("shortenAll")}</button>
      </div>
      <fieldset class="row">
        <legend>{t("floorMode")}</legend>
        {(["moderated", "open_discussion"] as const).map((mode) => (
          <label key={mode}>
            <input type="radio" name="floor-mode" checked={r.floor_mode === mode} onChange={() => act({ type: "set_floor_mode", mode })} />
            {t(mode === "moderated" ? "moderated" : "openDiscussion")}
          </label>
        ))}
      </fieldset>
    </section>
  );
}

function TurnSettings() {
  const r = room.value!.room;
  const [limit, setLimit] = useState(String(r.settings.limits.impromptu_s));
  const [warning, setWarning] = useState(String(r.settings.warning_s));
  const [hard, setHard] = useState(r.settings.overrun === "hard");
  const save = () =>
    act({
      type: "update_settings",
      patch: {
        limits: { ...r.settings.limits, impromptu_s: Number(limit) },
        warning_s: Number(warning),
        overrun: hard ? "hard" : "soft",
        grace_s: hard ? 0 : r.settings.grace_s,
      },
    });
  return (
    <section class="card" aria-labelledby="ts-h">
      <h2 id="ts-h">{t("turnSettings")}</h2>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label>
          {t("impromptuLimit")}
          <input data-testid="limit" type="number" min={10} value={limit} onInput={(e) => setLimit((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t("warningAt")}
          <input data-testid="warning" type="number" min={0} value={warning} onInput={(e) => setWarning((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          <input data-testid="hard" type="checkbox" checked={hard} onChange={(e) => setHard((e.target as HTMLInputElement).checked)} /> {t("hardStop")}
        </label>
        <button type="submit">{t("save")}</button>
      </form>
    </section>
  );
}

function PollBuilder() {
  const [question, setQuestion] = useState("");
  const [method, setMethod] = useState<"yes_no_abstain" | "single" | "multiple" | "rating">("yes_no_abstain");
  const [optionText, setOptionText] = useState("");
  const [secret, setSecret] = useState(true);
  const [binding, setBinding] = useState(true);
  const [advisory, setAdvisory] = useState(false);
  const [visibility, setVisibility] = useState<"live" | "after_close" | "hosts_until_published">("after_close");
  const [deadline, setDeadline] = useState("");
  const [quorum, setQuorum] = useState("");
  const [rule, setRule] = useState<"simple" | "absolute" | "two_thirds">("simple");
  const polls = room.value!.room.polls;
  const create = async () => {
    const options = optionText.split("\n").map((o) => o.trim()).filter(Boolean);
    const m: PollSpec["method"] =
      method === "single" ? { kind: "single", options } : method === "multiple" ? { kind: "multiple", options, min: 1, max: Math.max(1, options.length) } : { kind: method };
    const spec: PollSpec = {
      question,
      method: m,
      binding,
      advisory,
      secret,
      visibility: secret && visibility === "live" ? "after_close" : visibility,
      allow_change: false,
      deadline_s: deadline ? Number(deadline) : undefined,
      quorum: quorum ? { percent: Number(quorum), of: "present" } : undefined,
      majority: { rule, of: rule === "simple" ? "cast" : "present" },
    };
    if (await act({ type: "create_poll", spec })) setQuestion("");
  };
  const select = <T extends string>(label: Key, value: T, set: (v: T) => void, values: readonly T[], prefix: string) => (
    <label>
      {t(label)}
      <select value={value} onChange={(e) => set((e.target as HTMLSelectElement).value as T)}>
        {values.map((v) => (
          <option key={v} value={v}>
            {t(`${prefix}${v}` as Key)}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <section class="card" aria-labelledby="pb-h">
      <h2 id="pb-h">{t("newPoll")}</h2>
      <form
        class="col"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label>
          {t("question")}
          <input data-testid="poll-question" value={question} maxLength={500} onInput={(e) => setQuestion((e.target as HTMLInputElement).value)} />
        </label>
        {select("method", method, setMethod, ["yes_no_abstain", "single", "multiple", "rating"] as const, "method_")}
        {method === "single" || method === "multiple" ? (
          <label>
            {t("optionsOnePerLine")}
            <textarea rows={3} value={optionText} onInput={(e) => setOptionText((e.target as HTMLTextAreaElement).value)} />
          </label>
        ) : null}
        <div class="row">
          <label>
            <input type="checkbox" checked={binding} onChange={(e) => setBinding((e.target as HTMLInputElement).checked)} /> {t("binding")}
          </label>
          <label>
            <input type="checkbox" checked={advisory} onChange={(e) => setAdvisory((e.target as HTMLInputElement).checked)} /> {t("advisory")}
          </label>
          <label>
            <input type="checkbox" checked={secret} onChange={(e) => setSecret((e.target as HTMLInputElement).checked)} /> {t("secret")}
          </label>
        </div>
        {select("visibility", visibility, setVisibility, ["live", "after_close", "hosts_until_published"] as const, "visibility_")}
        {select("majority", rule, setRule, ["simple", "absolute", "two_thirds"] as const, "majority_")}
        <div class="row">
          <label>
            {t("deadline")}
            <input type="number" min={10} value={deadline} onInput={(e) => setDeadline((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t("quorumPercent")}
            <input type="number" min={1} max={100} value={quorum} onInput={(e) => setQuorum((e.target as HTMLInputElement).value)} />
          </label>
        </div>
        <button type="submit">{t("newPoll")}</button>
      </form>
      <ul class="items">
        {polls.map((p) => (
          <li key={p.id} data-testid={`host-poll-${p.id}`}>
            <strong>{p.spec.question}</strong> <span class="tag">{p.state}</span> {t("turnout")}: {p.turnout_binding + p.turnout_advisory}
            {p.state === "draft" ? <button onClick={() => act({ type: "open_poll", poll: p.id })}>{t("openPoll")}</button> : null}
            {p.state === "open" ? <button onClick={() => act({ type: "close_poll", poll: p.id })}>{t("closePoll")}</button> : null}
            {p.state === "closed" ? <button onClick={() => act({ type: "publish_poll", poll: p.id })}>{t("publishPoll")}</button> : null}
            {p.results ? <Results poll={p} /> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

const REASONS = ["duplicate", "off_topic", "abusive", "advertising", "personal_information", "other"] as const;
type Reason = (typeof REASONS)[number];

function Moderation() {
  const r = room.value!.room;
  const [why, setWhy] = useState<Reason>("off_topic");
  const comments = r.comments.filter((c) => c.status === "pending");
  const questions = r.questions.filter((q) => q.status === "pending");
  const first = questions[0] ? { q: questions[0].id } : comments[0] ? { c: comments[0].id } : undefined;
  const decide = (item: { q?: number; c?: number }, approve: boolean) => {
    const decision = approve ? ({ decision: "approve" } as const) : ({ decision: "reject", reason: why } as const);
    if (item.q !== undefined) return act({ type: "moderate_question", question: item.q, decision });
    if (item.c !== undefined) return act({ type: "moderate_comment", comment: item.c, decision });
  };
  const onKey = (e: KeyboardEvent) => {
    if (!first || (e.target as HTMLElement).tagName === "INPUT" || (e.target as HTMLElement).tagName === "SELECT") return;
    if (e.key === "a" || e.key === "A") void decide(first, true);
    if (e.key === "r" || e.key === "R") void decide(first, false);
  };
  return (
    <section class="card" aria-labelledby="mod-h" onKeyDown={onKey} tabIndex={-1}>
      <h2 id="mod-h">
        {t("moderation")} ({comments.length + questions.length})
      </h2>
      <p class="muted">{t("shortcuts")}</p>
      <label>
        {t("rejectReason")}
        <select value={why} onChange={(e) => setWhy((e.target as HTMLSelectElement).value as Reason)}>
          {REASONS.map((x) => (
            <option key={x} value={x}>
              {t(`reason_${x}` as Key)}
            </option>
          ))}
        </select>
      </label>
      <ul class="items" data-testid="moderation">
        {questions.map((q) => (
          <li key={`q${q.id}`}>
            <span class="tag">{t("questions")}</span> {q.text} <span class="muted">— {q.author_name}</span>
            {q.flagged ? <span class="tag">⚑</span> : null}
            <button onClick={() => decide({ q: q.id }, true)}>{t("approve")}</button>
            <button onClick={() => decide({ q: q.id }, false)}>{t("reject")}</button>
          </li>
        ))}
        {comments.map((c) => (
          <li key={`c${c.id}`}>
            <span class="tag">{t("comments")}</span> {c.text} <span class="muted">— {c.author_name}</span>
            {c.flagged ? <span class="tag">⚑</span> : null}
            <button onClick={() => decide({ c: c.id }, true)}>{t("approve")}</button>
            <button onClick={() => decide({ c: c.id }, false)}>{t("reject")}</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Approved questions with the host's actions: pin, answered, forward, merge. */
function HostQuestions() {
  const r = room.value!.room;
  const approved = r.questions.filter((q) => q.status === "approved" && !q.merged_into).sort((a, b) => Number(b.pinned) - Number(a.pinned) || b.upvotes - a.upvotes);
  const respondents = r.attendance.filter((a) => a.role === "respondent");
  return (
    <section class="card" aria-labelledby="hq-h">
      <h2 id="hq-h">{t("questions")}</h2>
      <ul class="items" data-testid="host-questions">
        {approved.map((q) => (
          <li key={q.id}>
            <span class="text">{q.text}</span> <span class="muted">— {q.author_name} · {t("upvote")} {q.upvotes}</span>
            {q.answered ? <span class="tag">{t("answered")}</span> : <button onClick={() => act({ type: "mark_answered", question: q.id })}>{t("markAnswered")}</button>}
            <button onClick={() => act({ type: "pin_question", question: q.id, pinned: !q.pinned })}>{q.pinned ? t("unpin") : t("pin")}</button>
            {respondents.length ? (
              <label>
                <span class="sr">{t("forwardTo")}</span>
                <select onChange={(e) => act({ type: "forward_question", question: q.id, to: (e.target as HTMLSelectElement).value })}>
                  <option value="">{t("forwardTo")}…</option>
                  {respondents.map((a) => (
                    <option key={a.participant} value={a.participant}>
                      {a.name}
                    </option>
                  ))}
                </select>
              </label>
            ) : null}
            {approved.length > 1 ? (
              <label>
                <span class="sr">{t("mergeInto")}</span>
                <select onChange={(e) => act({ type: "merge_question", question: q.id, into: Number((e.target as HTMLSelectElement).value) })}>
                  <option value="">{t("mergeInto")}…</option>
                  {approved
                    .filter((o) => o.id !== q.id)
                    .map((o) => (
                      <option key={o.id} value={o.id}>
                        {o.text.slice(0, 20)}
                      </option>
                    ))}
                </select>
              </label>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Attendance() {
  const rows = room.value!.room.attendance;
  return (
    <section class="card" aria-labelledby="att-h">
      <h2 id="att-h">{t("attendance")}</h2>
      <table>
        <tbody>
          {rows.map((a) => (
            <tr key={a.participant}>
              <td>{a.name}</td>
              <td>{a.present ? t("present") : t("absent")}</td>
              <td>{a.checked_in_at ? t("checkedIn") : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Bars({ rows }: { rows: Array<{ key: string; name: string; ms: number; note?: string }> }) {
  const max = Math.max(1, ...rows.map((r) => r.ms));
  return (
    <ul class="bars">
      {rows.map((r) => (
        <li key={r.key}>
          <span>{r.name}</span>
          <span class="bar" style={{ width: `${(100 * r.ms) / max}%` }} aria-hidden="true" />
          <span>
            {clock(r.ms)}
            {r.note ? <span class={r.note.startsWith("-") ? "over-note" : "muted"}> {r.note}</span> : null}
          </span>
        </li>
      ))}
    </ul>
  );
}

function SpeakingTime() {
  const s = room.value!.room.speaking;
  return (
    <section class="card" aria-labelledby="st-h">
      <h2 id="st-h">{t("speakingTime")}</h2>
      <Bars rows={s.participants.map((p) => ({ key: p.participant, name: p.name, ms: p.spoken_ms }))} />
      <h3>{t("bySector")}</h3>
      <Bars rows={s.sectors.map((g) => ({ key: g.name, name: g.name, ms: g.spoken_ms, note: g.budget_left_ms === undefined ? undefined : `${clock(g.budget_left_ms)} ${t("budgetLeft")}` }))} />
      <h3>{t("byVenue")}</h3>
      <Bars rows={s.venues.map((g) => ({ key: g.name, name: g.name, ms: g.spoken_ms }))} />
    </section>
  );
}

/** Download the hash-chained record (JSON lines), verifiable with `yishi record verify`. */
function ExportRecord() {
  const download = async () => {
    const id = new URLSearchParams(location.hash.slice(1)).get("room") ?? "";
    const res = await fetch(`/api/v1/rooms/${encodeURIComponent(id)}/record`, { headers: { authorization: `Bearer ${tokenInUse}` } });
    if (!res.ok) return;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${id}-record.jsonl`;
    a.click();
    URL.revokeObjectURL(url);
  };
  return (
    <button data-testid="export" onClick={() => void download()}>
      {t("exportRecord")}
    </button>
  );
}

export function HostScreen() {
  return (
    <main class="grid">
      <div class="col">
        <SessionControls />
        <Viewers />
        <MediaPanel />
        <Floor />
        <FloorControls />
        <QueueList host={true} />
        <TurnSettings />
      </div>
      <div class="col">
        <Moderation />
        <PollBuilder />
        <HostQuestions />
        <Attendance />
        <SpeakingTime />
        <ExportRecord />
      </div>
    </main>
  );
}

function LiveText() {
  const log = room.value!.log;
  return (
    <section class="card" aria-labelledby="lt-h">
      <h2 id="lt-h">{t("liveText")}</h2>
      <ol class="items" aria-live="polite" data-testid="live-text">
        {log.slice(-20).map((l) => (
          <li key={l.seq}>{describe(l)}</li>
        ))}
      </ol>
    </section>
  );
}

function Comments() {
  const state = room.value!;
  const comments = state.room.comments.filter((c) => c.status === "approved" || c.author === state.you.id);
  return (
    <section class="card" aria-labelledby="cm-h">
      <h2 id="cm-h">{t("comments")}</h2>
      <ul class="items" data-testid="comments">
        {comments.slice(-50).map((c) => (
          <li key={c.id}>
            <strong>{c.author_name}</strong>：{c.text}
            {c.status === "pending" ? <em class="muted"> ({t("pendingNote")})</em> : null}
          </li>
        ))}
      </ul>
      <Compose label="postComment" button="postComment" send={(text) => ({ type: "post_comment", text })} />
    </section>
  );
}

function Viewers() {
  const n = room.value!.viewers;
  return n === undefined ? null : (
    <p class="muted" data-testid="viewers">
      {t("viewers")}: {n}
    </p>
  );
}

export function AudienceScreen() {
  return (
    <main class="grid">
      <div class="col">
        <section class="card stage" aria-label={t("stage")}>
          <StageView />
          <Viewers />
        </section>
        <Floor />
        <LiveText />
      </div>
      <div class="col">
        <Polls canVote={true} />
        <Questions canAsk={true} />
        <Comments />
      </div>
    </main>
  );
}

/** The venue projector (大屏): readable across a hall. */
export function ProjectorScreen() {
  const state = room.value!;
  const open = state.room.polls.filter((p) => p.results);
  return (
    <main class="projector">
      <section class="card stage projector-stage" aria-label={t("stage")} data-testid="projector-stage">
        <StageView />
      </section>
      <Floor big={true} />
      <QueueList limit={3} />
      {open.slice(-1).map((p) => (
        <section class="card" key={p.id}>
          <h2>{p.spec.question}</h2>
          <Results poll={p} />
        </section>
      ))}
      <p class="muted">{ordered(state.room.queue, state.room).length}</p>
    </main>
  );
}
