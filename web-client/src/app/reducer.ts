// The client's one reducer: server messages in, room state out. Pure: no DOM, no clock.
//
// The queue comes from the server in grant order and is never sorted here: an entry is
// removed when it leaves, a new one appended at the end, and the whole list replaced by
// each `queue_ordered` (the server sends one whenever appending would be wrong).
import type { Choice } from "../protocol/Choice";
import type { EntryKind } from "../protocol/EntryKind";
import type { Event } from "../protocol/Event";
import type { Participant } from "../protocol/Participant";
import type { PollView } from "../protocol/PollView";
import type { RoomSnapshot } from "../protocol/RoomSnapshot";
import type { ServerMessage } from "../protocol/ServerMessage";
import type { Settings } from "../protocol/Settings";
import type { SettingsPatch } from "../protocol/SettingsPatch";
import type { Turn } from "../protocol/Turn";
import type { View } from "../protocol/View";

export type Welcome = Extract<ServerMessage, { type: "welcome" }>;

export interface RoomState {
  you: Participant;
  view: View;
  /** Resume token from the welcome. */
  session: string;
  room: RoomSnapshot;
  /** `through` of the last batch applied. */
  through: number;
  /** A batch did not follow the previous one: the client must resume. */
  gap: boolean;
  /** Live text (图文直播): a line per event worth telling, newest last. */
  feed: FeedLine[];
  /** Polls whose binding electorate holds me, from `poll_opened` (absent: not known). */
  eligible: Record<number, boolean>;
  viewers?: number;
}

/**
 * One line of the live text feed. `kind` and `code` are told in the reader's language
 * when shown; `subject` is what people wrote or are called (names, questions, comments).
 */
export interface FeedLine {
  seq: number;
  at: number;
  kind: "session" | "agenda" | "floor" | "warning" | "overran" | "ended" | "poll" | "poll_closed" | "poll_published" | "comment" | "question" | "answered";
  subject?: string;
  /** Who wrote it (a comment's author). */
  by?: string;
  code?: string;
}

const FEED_KEEP = 200;

export function initial(welcome: Welcome): RoomState | undefined {
  if (!welcome.snapshot) return undefined;
  const base: RoomState = {
    you: welcome.you,
    view: welcome.view,
    session: welcome.session,
    room: welcome.snapshot,
    through: welcome.snapshot.seq,
    gap: false,
    feed: [],
    eligible: {},
  };
  return { ...base, feed: feedOf(welcome.snapshot.feed ?? [], base) };
}

/** The feed lines a snapshot's recent events make. */
function feedOf(events: Event[], state: RoomState): FeedLine[] {
  const names = new Map<number, string>();
  const lines: FeedLine[] = [];
  for (const e of events) {
    if (e.body.type === "turn_started") names.set(e.body.turn.id, speakerOf(e.body.turn));
    const line = lineFor(e, state, (turn) => names.get(turn));
    if (line) lines.push(line);
  }
  return lines;
}

/** A turn's speaker as the feed names them; a venue's speaker with the venue. */
function speakerOf(turn: Turn): string {
  return turn.speaker ? `${turn.speaker} · ${turn.name}` : turn.name;
}

/** The feed line an event makes, if any. */
function lineFor(e: Event, state: RoomState, turnName: (turn: number) => string | undefined): FeedLine | undefined {
  const b = e.body;
  const at = { seq: e.seq, at: e.at };
  const question = (poll: number) => state.room.polls.find((p) => p.id === poll)?.spec.question;
  switch (b.type) {
    case "session_changed":
      return { ...at, kind: "session", code: b.state };
    case "current_item_changed":
      return { ...at, kind: "agenda", subject: state.room.agenda.find((i) => i.id === b.item)?.title ?? "" };
    case "turn_started":
      return { ...at, kind: "floor", subject: speakerOf(b.turn), code: b.turn.kind };
    case "turn_warned":
      return { ...at, kind: "warning", subject: turnName(b.turn) };
    case "turn_overran":
      return { ...at, kind: "overran", subject: turnName(b.turn) };
    case "turn_ended":
      return { ...at, kind: "ended", subject: turnName(b.turn), code: b.reason };
    case "poll_opened":
      return { ...at, kind: "poll", subject: b.spec.question };
    case "poll_closed":
      return { ...at, kind: "poll_closed", subject: question(b.poll), code: b.result?.outcome };
    case "poll_published":
      return { ...at, kind: "poll_published", subject: question(b.poll), code: b.result.outcome };
    case "comment_posted":
    case "comment_approved":
      return b.comment.status === "approved" ? { ...at, kind: "comment", subject: b.comment.text, by: b.comment.author_name } : undefined;
    case "question_asked":
    case "question_approved":
      return b.question.status === "approved" ? { ...at, kind: "question", subject: b.question.text } : undefined;
    case "question_answered":
      return { ...at, kind: "answered", subject: state.room.questions.find((q) => q.id === b.question)?.text };
    default:
      return undefined;
  }
}

/** Fold one server message into the state. */
export function reduce(state: RoomState, msg: ServerMessage): RoomState {
  switch (msg.type) {
    case "welcome": {
      if (msg.snapshot) {
        const next: RoomState = { ...state, you: msg.you, view: msg.view, session: msg.session || state.session, room: msg.snapshot, through: msg.snapshot.seq, gap: false };
        // Keep what was read; add what the snapshot knows and we did not.
        const known = new Set(state.feed.map((l) => l.seq));
        const more = feedOf(msg.snapshot.feed ?? [], next).filter((l) => !known.has(l.seq));
        return { ...next, feed: [...state.feed, ...more].sort((a, b) => a.seq - b.seq).slice(-FEED_KEEP) };
      }
      return { ...state, session: msg.session || state.session };
    }
    case "events": {
      // After a resuming welcome the first batch may start later (nothing visible was missed).
      if (msg.from < state.through + 1) return state;
      if (msg.from !== state.through + 1 && !state.gap) return { ...state, gap: true };
      let next: RoomState = { ...state, room: { ...state.room }, through: msg.through, gap: false };
      for (const e of msg.events) next = applyEvent(next, e);
      next.room.seq = msg.through;
      return next;
    }
    case "viewers":
      return { ...state, viewers: msg.count };
    case "tally": {
      const polls = state.room.polls.map((p) =>
        p.id === msg.poll ? { ...p, turnout_binding: msg.turnout_binding, turnout_advisory: msg.turnout_advisory, results: msg.results ?? p.results } : p,
      );
      return { ...state, room: { ...state.room, polls } };
    }
    default:
      return state;
  }
}

function addLine(state: RoomState, e: Event): RoomState {
  const line = lineFor(e, state, (turn) => {
    const t = state.room.floor?.id === turn ? state.room.floor : state.room.suspended.find((x) => x.id === turn);
    return t ? speakerOf(t) : undefined;
  });
  return line ? { ...state, feed: [...state.feed.slice(-(FEED_KEEP - 1)), line] } : state;
}

function updatePoll(room: RoomSnapshot, id: number, f: (p: PollView) => PollView): PollView[] {
  return room.polls.map((p) => (p.id === id ? f(p) : p));
}

function merge(settings: Settings, patch: SettingsPatch): Settings {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...settings, ...defined } as Settings;
}

function applyEvent(before: RoomState, e: Event): RoomState {
  // Lines are told with the state before the event (a turn's name before it ends).
  const state = addLine(before, e);
  const room = state.room;
  const b = e.body;
  switch (b.type) {
    case "session_changed":
      room.session = b.state;
      return state;
    case "agenda_item_added":
      room.agenda = [...room.agenda, b.item];
      return state;
    case "current_item_changed": {
      room.current_item = b.item;
      // The new list comes in a `queue_ordered` if it is not empty.
      room.queue = [];
      const item = room.agenda.find((i) => i.id === b.item);
      if (item) room.settings = merge(room.settings, item.settings);
      return state;
    }
    case "settings_updated":
      if (b.item === undefined || b.item === room.current_item) room.settings = merge(room.settings, b.patch);
      if (b.patch.ordering && b.item === undefined) room.ordering = b.patch.ordering;
      return state;
    case "joined": {
      const p = b.participant;
      const old = room.attendance.find((a) => a.participant === p.id);
      const row = { participant: p.id, name: p.name, role: p.role, sector: p.sector, venue: p.venue, present: true, checked_in_at: old?.checked_in_at, head_count: old?.head_count, first_joined_at: old?.first_joined_at ?? e.at, present_ms: old?.present_ms ?? 0 };
      room.attendance = old ? room.attendance.map((a) => (a.participant === p.id ? row : a)) : [...room.attendance, row];
      return state;
    }
    case "left":
      room.attendance = room.attendance.map((a) => (a.participant === b.participant ? { ...a, present: false } : a));
      return state;
    case "checked_in":
      room.attendance = room.attendance.map((a) => (a.participant === b.participant ? { ...a, checked_in_at: a.checked_in_at ?? e.at, head_count: b.head_count ?? a.head_count } : a));
      return state;
    case "entry_added":
      if (b.entry.item === room.current_item) room.queue = [...room.queue, b.entry];
      return state;
    case "entry_withdrawn":
    case "entry_removed":
      room.queue = room.queue.filter((q) => q.id !== b.entry);
      return state;
    case "entry_moved":
      // The new order follows in a `queue_ordered`.
      return state;
    case "entries_limited":
      if (b.item === room.current_item) room.queue = room.queue.map((q) => ({ ...q, limit_s: Math.min(q.limit_s ?? limitOf(room, q.kind), b.limit_s) }));
      return state;
    case "ordering_changed":
      if (b.item === room.current_item) {
        room.ordering = b.policy;
        room.manual_order = false;
      }
      return state;
    case "queue_ordered":
      if (b.item === room.current_item) room.queue = b.queue;
      return state;
    case "turn_started":
      if (b.entry !== undefined) room.queue = room.queue.filter((q) => q.id !== b.entry);
      if (b.interrupts !== undefined && room.floor) room.suspended = [...room.suspended, room.floor];
      room.floor = b.turn;
      return state;
    case "turn_paused": {
      const pause = (t: Turn): Turn => ({ ...t, elapsed_ms: t.elapsed_ms + (t.running_since !== undefined ? e.at - t.running_since : 0), running_since: undefined, paused: b.reason });
      room.floor = mapTurn(room.floor, b.turn, pause);
      room.suspended = room.suspended.map((t) => mapTurn(t, b.turn, pause)!);
      return state;
    }
    case "turn_resumed":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, running_since: e.at, paused: undefined }));
      return state;
    case "turn_limit_changed":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, limit_ms: b.limit_ms }));
      return state;
    case "turn_warned":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, warned: true }));
      return state;
    case "turn_overran":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, overran: true }));
      return state;
    case "turn_ended": {
      const ended = room.floor?.id === b.turn ? room.floor : room.suspended.find((t) => t.id === b.turn);
      if (room.floor?.id === b.turn) {
        room.floor = room.suspended[room.suspended.length - 1];
        room.suspended = room.suspended.slice(0, -1);
      } else room.suspended = room.suspended.filter((t) => t.id !== b.turn);
      if (ended) {
        const mine = room.speaking.participants.find((p) => p.participant === ended.participant);
        const row = { participant: ended.participant, name: ended.name, turns: (mine?.turns ?? 0) + 1, spoken_ms: (mine?.spoken_ms ?? 0) + b.spoken_ms };
        const group = (name?: string) => (g: { name: string; turns: number; spoken_ms: number; budget_left_ms?: number }) =>
          g.name === name ? { ...g, turns: g.turns + 1, spoken_ms: g.spoken_ms + b.spoken_ms, budget_left_ms: g.budget_left_ms === undefined ? undefined : g.budget_left_ms - b.spoken_ms } : g;
        const addGroup = (list: Array<{ name: string; turns: number; spoken_ms: number; budget_left_ms?: number }>, name?: string) =>
          name && !list.some((g) => g.name === name) ? [...list, { name, turns: 0, spoken_ms: 0 }] : list;
        room.speaking = {
          participants: mine ? room.speaking.participants.map((p) => (p.participant === ended.participant ? row : p)) : [...room.speaking.participants, row],
          sectors: addGroup(room.speaking.sectors, ended.sector).map(group(ended.sector)),
          venues: addGroup(room.speaking.venues, ended.venue).map(group(ended.venue)),
        };
      }
      return state;
    }
    case "floor_mode_changed":
      room.floor_mode = b.mode;
      return state;
    case "poll_created":
    case "poll_updated": {
      const existing = room.polls.find((p) => p.id === b.poll);
      const draft: PollView = { id: b.poll, spec: b.spec, state: "draft", eligible: 0, turnout_binding: 0, turnout_advisory: 0, voted: false, named_ballots: [] };
      room.polls = existing ? updatePoll(room, b.poll, (p) => ({ ...p, spec: b.spec })) : [...room.polls, draft];
      return state;
    }
    case "poll_opened": {
      const open = (p: PollView): PollView => ({ ...p, spec: b.spec, state: "open", opened_at: e.at, deadline: b.deadline, eligible: b.eligible.length || p.eligible, turnout_binding: 0, turnout_advisory: 0, voted: false, my_choice: undefined, results: undefined, named_ballots: [] });
      const existing = room.polls.find((p) => p.id === b.poll);
      room.polls = existing ? updatePoll(room, b.poll, open) : [...room.polls, open({ id: b.poll, spec: b.spec, state: "open", eligible: 0, turnout_binding: 0, turnout_advisory: 0, voted: false, named_ballots: [] })];
      // The audience view gets the list empty: it says nothing about us then.
      const eligible = b.eligible.length ? { ...state.eligible, [b.poll]: b.eligible.includes(state.you.id) } : state.eligible;
      return { ...state, eligible };
    }
    case "ballot_cast":
      // Turnout arrives in `tally` messages; a ballot event tells a voter theirs is in.
      if (b.voter === state.you.id) {
        room.polls = updatePoll(room, b.poll, (p) => ({ ...p, voted: true, my_choice: (b.choice as Choice | undefined) ?? p.my_choice }));
      }
      return state;
    case "ballots_voided":
      // After a server restart: ballots that never reached the sealed box (hosts only).
      if (b.voters.includes(state.you.id)) room.polls = updatePoll(room, b.poll, (p) => ({ ...p, voted: false }));
      return state;
    case "poll_closed":
      room.polls = updatePoll(room, b.poll, (p) => ({ ...p, state: "closed", results: b.result ?? p.results }));
      return state;
    case "poll_published":
      room.polls = updatePoll(room, b.poll, (p) => ({ ...p, state: "published", results: b.result }));
      return state;
    case "poll_reset":
      room.polls = updatePoll(room, b.poll, (p) => ({ ...p, state: "draft", results: undefined, turnout_binding: 0, turnout_advisory: 0, voted: false, my_choice: undefined }));
      return state;
    case "chat_sent":
      room.chat = [...room.chat.slice(-199), b.message];
      return state;
    case "comment_posted":
    case "comment_approved":
      room.comments = [...room.comments.filter((c) => c.id !== b.comment.id), b.comment];
      return state;
    case "comment_rejected":
      room.comments = room.comments.map((c) => (c.id === b.comment ? { ...c, status: "rejected", rejected: b.reason } : c));
      return state;
    case "question_asked":
    case "question_approved":
      room.questions = [...room.questions.filter((q) => q.id !== b.question.id), b.question];
      return state;
    case "question_rejected":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, status: "rejected", rejected: b.reason } : q));
      return state;
    case "question_upvoted":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, upvotes: q.upvotes + 1 } : q));
      return state;
    case "question_answered":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, answered: true } : q));
      return state;
    case "question_forwarded":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, forwarded_to: b.to } : q));
      return state;
    case "question_merged":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, merged_into: b.into, upvotes: 0 } : q));
      return state;
    case "question_pinned":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, pinned: b.pinned } : q));
      return state;
    case "word_list_set":
      room.word_list = b.words;
      return state;
    case "annotated":
      return state;
    case "livestream_started":
      room.livestream = { playlist: b.playlist, since: e.at };
      return state;
    case "livestream_stopped":
      room.livestream = undefined;
      return state;
    case "livestream_gap":
    case "recording_archived":
      return state;
  }
}

function limitOf(room: RoomSnapshot, kind: EntryKind): number {
  return room.settings.limits[`${kind}_s` as keyof typeof room.settings.limits];
}

function mapTurn(turn: Turn | undefined, id: number, f: (t: Turn) => Turn): Turn | undefined {
  return turn && turn.id === id ? f(turn) : turn;
}
