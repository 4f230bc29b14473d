// What the meeting needs to tell me now, derived from the events of a batch: given the
// floor, a warning, a hard stop, a pause, a moderation result, an answer. Pure; the
// model keeps them until they are acknowledged or superseded (UX.md: no auto-dismissing
// message that carries information).
import type { Event } from "../protocol/Event";
import type { RejectReason } from "../protocol/RejectReason";
import type { RoomState } from "./reducer";

export type NoticeKind =
  | "floor_given"
  | "time_warning"
  | "time_up"
  | "turn_ended_by_host"
  | "paused"
  | "resumed"
  | "comment_approved"
  | "comment_rejected"
  | "question_approved"
  | "question_rejected"
  | "question_answered"
  | "added_to_queue";

export interface Notice {
  /** Unique: the event's seq and kind. */
  id: string;
  kind: NoticeKind;
  /** What it is about, as people wrote it (a comment's or question's text). */
  subject?: string;
  reason?: RejectReason;
  /** How urgent: `alert` interrupts a screen reader, `status` waits. */
  urgent: boolean;
}

/** Which earlier notices a new one makes obsolete. */
const SUPERSEDES: Partial<Record<NoticeKind, NoticeKind[]>> = {
  floor_given: ["time_warning", "time_up", "turn_ended_by_host", "added_to_queue"],
  time_warning: ["floor_given"],
  time_up: ["floor_given", "time_warning"],
  turn_ended_by_host: ["floor_given", "time_warning"],
  resumed: ["paused"],
  paused: ["resumed"],
};
/** Passing news ("the session continues") gives way to anything that needs attention. */
const PASSING: NoticeKind[] = ["resumed", "added_to_queue"];

/** The notices `events` bring to the holder of `before` (the state before the batch). */
export function noticesFor(before: RoomState, events: Event[]): Notice[] {
  const me = before.you.id;
  const out: Notice[] = [];
  const myTurns = new Set<number>();
  if (before.room.floor?.participant === me) myTurns.add(before.room.floor.id);
  for (const t of before.room.suspended) if (t.participant === me) myTurns.add(t.id);
  const myComments = new Map(before.room.comments.filter((c) => c.author === me).map((c) => [c.id, c.text]));
  const myQuestions = new Map(before.room.questions.filter((q) => q.author === me).map((q) => [q.id, q.text]));
  const add = (e: Event, kind: NoticeKind, urgent: boolean, extra: Partial<Notice> = {}) => out.push({ id: `${e.seq}-${kind}`, kind, urgent, ...extra });
  for (const e of events) {
    const b = e.body;
    switch (b.type) {
      case "turn_started":
        if (b.turn.participant === me) {
          myTurns.add(b.turn.id);
          add(e, "floor_given", true);
        }
        break;
      case "turn_warned":
        if (myTurns.has(b.turn)) add(e, "time_warning", true);
        break;
      case "turn_ended":
        if (myTurns.has(b.turn) && b.reason === "time_up") add(e, "time_up", true);
        else if (myTurns.has(b.turn) && b.reason === "host") add(e, "turn_ended_by_host", true);
        break;
      case "session_changed":
        // The chair who paused knows it.
        if (e.actor === me) break;
        if (b.state === "paused") add(e, "paused", true);
        if (b.state === "in_session" && before.room.session === "paused") add(e, "resumed", false);
        break;
      case "entry_added":
        if (b.entry.participant === me && e.actor !== me && b.reason) add(e, "added_to_queue", false);
        break;
      case "comment_posted":
        if (b.comment.author === me) myComments.set(b.comment.id, b.comment.text);
        break;
      case "question_asked":
        if (b.question.author === me) myQuestions.set(b.question.id, b.question.text);
        break;
      case "comment_approved":
        if (b.comment.author === me) add(e, "comment_approved", false, { subject: b.comment.text });
        break;
      case "comment_rejected":
        if (myComments.has(b.comment)) add(e, "comment_rejected", false, { subject: myComments.get(b.comment), reason: b.reason });
        break;
      case "question_approved":
        if (b.question.author === me) add(e, "question_approved", false, { subject: b.question.text });
        break;
      case "question_rejected":
        if (myQuestions.has(b.question)) add(e, "question_rejected", false, { subject: myQuestions.get(b.question), reason: b.reason });
        break;
      case "question_answered":
        if (myQuestions.has(b.question)) add(e, "question_answered", false, { subject: myQuestions.get(b.question) });
        break;
      default:
        break;
    }
  }
  return out;
}

/** `shown` with `fresh` added: what they supersede goes, at most `keep` stay, newest last. */
export function withNotices(shown: Notice[], fresh: Notice[], keep = 4): Notice[] {
  let list = shown;
  for (const n of fresh) {
    const gone = [...(SUPERSEDES[n.kind] ?? []), ...(n.urgent ? PASSING : [])];
    list = [...list.filter((x) => !gone.includes(x.kind) && x.id !== n.id), n];
  }
  return list.slice(-keep);
}
