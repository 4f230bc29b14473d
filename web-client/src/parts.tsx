// Pieces every screen shares: the floor with its countdown, the queue, polls, questions.
import { useState } from "preact/hooks";
import { t, type Key } from "./i18n";
import type { Choice } from "./protocol/Choice";
import type { Command } from "./protocol/Command";
import type { PollView } from "./protocol/PollView";
import type { Question } from "./protocol/Question";
import { clock, ordered, remaining } from "./room";
import { act, overrideReason, room, serverNow } from "./store";

export function Floor({ big = false }: { big?: boolean }) {
  const r = room.value!.room;
  const turn = r.floor;
  if (!turn) {
    return (
      <section class="card floor" aria-labelledby="floor-h">
        <h2 id="floor-h">{t("floor")}</h2>
        <p class="muted">{t("nobodySpeaking")}</p>
      </section>
    );
  }
  const left = remaining(turn, serverNow.value);
  const warn = turn.warned || left <= r.settings.warning_s * 1000;
  return (
    <section class={`card floor ${big ? "big" : ""}`} aria-labelledby="floor-h">
      <h2 id="floor-h">{t("speaking")}</h2>
      <p class="speaker" data-testid="speaker">
        {turn.speaker ?? turn.name}
        {turn.venue ? <span class="muted"> · {turn.venue}</span> : null}
      </p>
      <p class="kind">{t(`kind_${turn.kind}` as Key)}</p>
      <p class={`timer ${left < 0 ? "over" : warn ? "warn" : ""}`} data-testid="timer" aria-label={`${t("timeLeft")} ${clock(left)}`}>
        {clock(left)}
      </p>
      {left < 0 ? <p class="over-note">{t("overtime")}</p> : null}
    </section>
  );
}

export function QueueList({ host = false, limit }: { host?: boolean; limit?: number }) {
  const state = room.value!;
  const list = ordered(state.room.queue, state.room);
  const shown = limit ? list.slice(0, limit) : list;
  const reason = () => overrideReason.value.trim() || t("defaultReason");
  return (
    <section class="card" aria-labelledby="queue-h">
      <h2 id="queue-h">{limit ? t("nextUp") : t("queue")}</h2>
      {host ? (
        <label>
          {t("reason")}
          <input data-testid="override-reason" value={overrideReason.value} placeholder={t("defaultReason")} maxLength={200} onInput={(e) => (overrideReason.value = (e.target as HTMLInputElement).value)} />
        </label>
      ) : null}
      {shown.length === 0 ? <p class="muted">{t("queueEmpty")}</p> : null}
      <ol class="queue" data-testid="queue">
        {shown.map((e) => {
          const sameKind = list.filter((x) => x.kind === e.kind);
          const pos = sameKind.findIndex((x) => x.id === e.id);
          return (
            <li key={e.id} class={e.participant === state.you.id ? "mine" : ""}>
              <span class="who">{e.speaker ? `${e.speaker}（${e.name}）` : e.name}</span>
              <span class="tag">{t(`kind_${e.kind}` as Key)}</span>
              {host ? (
                <span class="actions">
                  <button onClick={() => act({ type: "grant_floor", entry: e.id, reason: list[0]?.id === e.id ? undefined : reason() })}>{t("grant")}</button>
                  <button aria-label={`${t("moveUp")} ${e.name}`} disabled={pos === 0} onClick={() => act({ type: "move_entry", entry: e.id, position: pos - 1, reason: reason() })}>
                    ↑
                  </button>
                  <button aria-label={`${t("moveDown")} ${e.name}`} disabled={pos === sameKind.length - 1} onClick={() => act({ type: "move_entry", entry: e.id, position: pos + 1, reason: reason() })}>
                    ↓
                  </button>
                  <button onClick={() => act({ type: "remove_entry", entry: e.id, reason: reason() })}>{t("remove")}</button>
                </span>
              ) : null}
            </li>
          );
        })}
      </ol>
    </section>
  );
}

export function RequestFloor() {
  const state = room.value!;
  const [speaker, setSpeaker] = useState("");
  const venue = state.you.role === "venue";
  const mine = state.room.queue.filter((e) => e.participant === state.you.id);
  const place = ordered(state.room.queue, state.room).findIndex((e) => e.participant === state.you.id);
  const holding = state.room.floor?.participant === state.you.id;
  return (
    <section class="card" aria-labelledby="req-h">
      <h2 id="req-h">{t("requestToSpeak")}</h2>
      {place >= 0 ? (
        <p class="place" data-testid="my-place">
          {t("myPlace")}: {place + 1}
        </p>
      ) : null}
      {venue ? (
        <label>
          {t("speakerName")}
          <input data-testid="speaker-name" value={speaker} maxLength={100} onInput={(e) => setSpeaker((e.target as HTMLInputElement).value)} />
        </label>
      ) : null}
      <div class="row">
        {(["impromptu", "interjection", "point_of_order"] as const).map((kind) =>
          mine.some((e) => e.kind === kind) ? (
            <button key={kind} class="secondary" onClick={() => act({ type: "withdraw", kind })}>
              {t("withdraw")} · {t(`kind_${kind}`)}
            </button>
          ) : (
            <button key={kind} onClick={() => act({ type: "request_floor", kind, speaker: venue && speaker.trim() ? speaker.trim() : undefined })}>
              {t(`kind_${kind}`)}
            </button>
          ),
        )}
        {holding ? <button class="danger" onClick={() => act({ type: "end_turn" })}>{t("endMyTurn")}</button> : null}
      </div>
    </section>
  );
}

const YES_NO: Array<["yes" | "no" | "abstain", Key]> = [
  ["yes", "yes"],
  ["no", "no"],
  ["abstain", "abstain"],
];

function options(p: PollView): Array<{ label: string; choice: Choice }> {
  const m = p.spec.method;
  switch (m.kind) {
    case "yes_no_abstain":
      return YES_NO.map(([vote, key]) => ({ label: t(key), choice: { kind: "yes_no_abstain", vote } }));
    case "single":
      return m.options.map((o, i) => ({ label: o, choice: { kind: "single", option: i } }));
    case "rating":
      return [1, 2, 3, 4, 5].map((stars) => ({ label: "★".repeat(stars), choice: { kind: "rating", stars } }));
    case "multiple":
      return m.options.map((o, i) => ({ label: o, choice: { kind: "multiple", options: [i] } }));
  }
}

function labels(p: PollView): string[] {
  const m = p.spec.method;
  if (m.kind === "yes_no_abstain") return [t("yes"), t("no"), t("abstain")];
  if (m.kind === "rating") return ["★", "★★", "★★★", "★★★★", "★★★★★"];
  return m.options;
}

export function Polls({ canVote }: { canVote: boolean }) {
  const polls = room.value!.room.polls.filter((p) => p.state !== "draft");
  if (polls.length === 0) return null;
  return (
    <section class="card" aria-labelledby="polls-h">
      <h2 id="polls-h">{t("polls")}</h2>
      {polls.map((p) => (
        <article key={p.id} class="poll" data-testid={`poll-${p.id}`}>
          <h3>{p.spec.question}</h3>
          <p class="muted">
            {t("turnout")}: {p.turnout_binding + p.turnout_advisory}
          </p>
          {p.state === "open" && canVote && !p.voted ? (
            <div class="row">
              {options(p).map((o) => (
                <button key={o.label} onClick={() => act({ type: "cast_ballot", poll: p.id, choice: o.choice })}>
                  {o.label}
                </button>
              ))}
            </div>
          ) : null}
          {p.voted ? <p class="ok" role="status">{t("voted")}</p> : null}
          {p.results ? <Results poll={p} /> : null}
        </article>
      ))}
    </section>
  );
}

export function Results({ poll }: { poll: PollView }) {
  const r = poll.results!;
  const names = labels(poll);
  const tally = (title: Key, counts?: { ballots: number; counts: number[] }) =>
    counts ? (
      <div class="tally">
        <h4>{t(title)}</h4>
        <ul>
          {counts.counts.map((n, i) => (
            <li key={i}>
              {names[i]}: <strong>{n}</strong>
            </li>
          ))}
        </ul>
      </div>
    ) : null;
  return (
    <div class="results" data-testid="results">
      {poll.state !== "open" ? <p class="outcome">{t(`outcome_${r.outcome}` as Key)}</p> : null}
      {tally("binding", r.binding)}
      {tally("advisory", r.advisory)}
    </div>
  );
}

/** A one-line text box and its button; the draft stays until the server accepts it. */
export function Compose({ label, button, send }: { label: Key; button: Key; send: (text: string) => Command }) {
  const [draft, setDraft] = useState("");
  return (
    <form
      class="row"
      onSubmit={async (ev) => {
        ev.preventDefault();
        if (await act(send(draft))) setDraft("");
      }}
    >
      <label class="grow">
        <span class="sr">{t(label)}</span>
        <input value={draft} maxLength={500} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">{t(button)}</button>
    </form>
  );
}

export function Questions({ canAsk }: { canAsk: boolean }) {
  const state = room.value!;
  const qs = state.room.questions.filter((q) => !q.merged_into);
  return (
    <section class="card" aria-labelledby="q-h">
      <h2 id="q-h">{t("questions")}</h2>
      <ul class="items" data-testid="questions">
        {qs.map((q: Question) => (
          <li key={q.id} class={q.status}>
            <span class="text">{q.text}</span> <span class="muted">— {q.author_name}</span>
            {q.status === "pending" ? <em class="muted"> ({t("pendingNote")})</em> : null}
            {q.answered ? <span class="tag">{t("answered")}</span> : null}
            {q.status === "approved" ? (
              <button class="small" aria-label={`${t("upvote")} ${q.upvotes} ${q.text}`} onClick={() => act({ type: "upvote", question: q.id })}>
                {t("upvote")} {q.upvotes}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {canAsk ? <Compose label="ask" button="ask" send={(text) => ({ type: "ask_question", text })} /> : null}
    </section>
  );
}
