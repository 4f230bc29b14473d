// The client's one reducer: server messages in, room state out. Pure: no DOM, no clock.
import type { Choice } from "./protocol/Choice";
import type { EntryKind } from "./protocol/EntryKind";
import type { Event } from "./protocol/Event";
import type { Participant } from "./protocol/Participant";
import type { PollView } from "./protocol/PollView";
import type { QueueEntry } from "./protocol/QueueEntry";
import type { RoomSnapshot } from "./protocol/RoomSnapshot";
import type { ServerMessage } from "./protocol/ServerMessage";
import type { Turn } from "./protocol/Turn";
import type { View } from "./protocol/View";

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
  log: LogLine[];
  viewers?: number;
}

export interface LogLine {
  seq: number;
  at: number;
  text: string;
  kind: string;
}

const KIND_ORDER: EntryKind[] = ["point_of_order", "interjection", "reply", "scheduled", "impromptu"];

/** The queue in the order the floor will go: kinds by priority, then stored order. */
export function ordered(queue: QueueEntry[], room: RoomSnapshot): QueueEntry[] {
  const byKind = (k: EntryKind) => queue.filter((e) => e.kind === k);
  const speakers = new Map(room.speaking.participants.map((p) => [p.participant, p]));
  return KIND_ORDER.flatMap((k) => {
    const list = byKind(k);
    if (k !== "impromptu" || room.manual_order) return list;
    const key = (e: QueueEntry): number => {
      const s = speakers.get(e.participant);
      if (room.ordering === "fewest_turns") return s?.turns ?? 0;
      if (room.ordering === "least_time") return s?.spoken_ms ?? 0;
      return 0;
    };
    return list.map((e, i) => ({ e, i })).sort((a, b) => key(a.e) - key(b.e) || a.i - b.i).map((x) => x.e);
  });
}

/** Time left on `turn` at server time `serverNow`, in ms (negative past the limit). */
export function remaining(turn: Turn, serverNow: number): number {
  const running = turn.running_since !== undefined ? Math.max(0, serverNow - turn.running_since) : 0;
  return turn.limit_ms - turn.elapsed_ms - running;
}

/** `m:ss`, with a minus sign past zero. */
export function clock(ms: number): string {
  const sign = ms < 0 ? "-" : "";
  const s = Math.floor(Math.abs(ms) / 1000);
  return `${sign}${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function initial(welcome: Extract<ServerMessage, { type: "welcome" }>): RoomState | undefined {
  if (!welcome.snapshot) return undefined;
  return {
    you: welcome.you,
    view: welcome.view,
    session: welcome.session,
    room: welcome.snapshot,
    through: welcome.snapshot.seq,
    gap: false,
    log: [],
  };
}

/** Fold one server message into the state. */
export function reduce(state: RoomState, msg: ServerMessage): RoomState {
  switch (msg.type) {
    case "welcome": {
      if (msg.snapshot) {
        return { ...state, you: msg.you, view: msg.view, session: msg.session || state.session, room: msg.snapshot, through: msg.snapshot.seq, gap: false };
      }
      return { ...state, session: msg.session || state.session };
    }
    case "events": {
      if (msg.from !== state.through + 1) return { ...state, gap: true };
      let next: RoomState = { ...state, room: { ...state.room }, through: msg.through, log: state.log };
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

function log(state: RoomState, e: Event, kind: string, text: string): RoomState {
  const line = { seq: e.seq, at: e.at, kind, text };
  return { ...state, log: [...state.log.slice(-199), line] };
}

function updatePoll(room: RoomSnapshot, id: number, f: (p: PollView) => PollView): PollView[] {
  return room.polls.map((p) => (p.id === id ? f(p) : p));
}

function applyEvent(state: RoomState, e: Event): RoomState {
  const room = state.room;
  const b = e.body;
  switch (b.type) {
    case "session_changed":
      room.session = b.state;
      return log(state, e, "session", b.state);
    case "agenda_item_added":
      room.agenda = [...room.agenda, b.item];
      return state;
    case "current_item_changed":
      room.current_item = b.item;
      return log(state, e, "agenda", room.agenda.find((i) => i.id === b.item)?.title ?? "");
    case "settings_updated":
      if (b.item === undefined) room.settings = { ...room.settings, ...stripUndefined(b.patch) } as typeof room.settings;
      return state;
    case "joined": {
      const p = b.participant;
      const rest = room.attendance.filter((a) => a.participant !== p.id);
      const old = room.attendance.find((a) => a.participant === p.id);
      room.attendance = [...rest, { participant: p.id, name: p.name, role: p.role, sector: p.sector, venue: p.venue, present: true, checked_in_at: old?.checked_in_at, head_count: old?.head_count, first_joined_at: old?.first_joined_at ?? e.at, present_ms: old?.present_ms ?? 0 }];
      return state;
    }
    case "left":
      room.attendance = room.attendance.map((a) => (a.participant === b.participant ? { ...a, present: false } : a));
      return state;
    case "checked_in":
      room.attendance = room.attendance.map((a) => (a.participant === b.participant ? { ...a, checked_in_at: a.checked_in_at ?? e.at, head_count: b.head_count ?? a.head_count } : a));
      return state;
    case "entry_added": {
      const list = [...room.queue, b.entry];
      if (b.position !== undefined) {
        room.queue = placeAt(list, b.entry.id, b.position, room);
        if (b.entry.kind === "impromptu") room.manual_order = true;
      } else room.queue = list;
      return state;
    }
    case "entry_withdrawn":
    case "entry_removed":
      room.queue = room.queue.filter((q) => q.id !== b.entry);
      return state;
    case "entry_moved": {
      const moved = room.queue.find((q) => q.id === b.entry);
      room.queue = placeAt(room.queue, b.entry, b.position, room);
      if (moved?.kind === "impromptu") room.manual_order = true;
      return state;
    }
    case "entries_limited":
      room.queue = room.queue.map((q) => ({ ...q, limit_s: Math.min(q.limit_s ?? limitOf(room, q.kind), b.limit_s) }));
      return state;
    case "ordering_changed":
      room.ordering = b.policy;
      room.manual_order = false;
      return state;
    case "turn_started":
      room.queue = room.queue.filter((q) => q.id !== b.entry);
      if (b.interrupts !== undefined && room.floor) room.suspended = [...room.suspended, room.floor];
      room.floor = b.turn;
      return log(state, e, "floor", `${b.turn.speaker ?? b.turn.name}`);
    case "turn_paused":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, elapsed_ms: t.elapsed_ms + (t.running_since !== undefined ? e.at - t.running_since : 0), running_since: undefined, paused: b.reason }));
      room.suspended = room.suspended.map((t) => mapTurn(t, b.turn, (x) => ({ ...x, elapsed_ms: x.elapsed_ms + (x.running_since !== undefined ? e.at - x.running_since : 0), running_since: undefined, paused: b.reason }))!);
      return state;
    case "turn_resumed":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, running_since: e.at, paused: undefined }));
      return state;
    case "turn_limit_changed":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, limit_ms: b.limit_ms }));
      return state;
    case "turn_warned":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, warned: true }));
      return log(state, e, "warning", "");
    case "turn_overran":
      room.floor = mapTurn(room.floor, b.turn, (t) => ({ ...t, overran: true }));
      return log(state, e, "overran", "");
    case "turn_ended": {
      const ended = room.floor?.id === b.turn ? room.floor : room.suspended.find((t) => t.id === b.turn);
      if (room.floor?.id === b.turn) {
        room.floor = room.suspended[room.suspended.length - 1];
        room.suspended = room.suspended.slice(0, -1);
      } else room.suspended = room.suspended.filter((t) => t.id !== b.turn);
      if (ended) {
        const others = room.speaking.participants.filter((p) => p.participant !== ended.participant);
        const mine = room.speaking.participants.find((p) => p.participant === ended.participant);
        room.speaking = {
          ...room.speaking,
          participants: [...others, { participant: ended.participant, name: ended.name, turns: (mine?.turns ?? 0) + 1, spoken_ms: (mine?.spoken_ms ?? 0) + b.spoken_ms }],
          sectors: room.speaking.sectors.map((g) => (g.name === ended.sector ? { ...g, turns: g.turns + 1, spoken_ms: g.spoken_ms + b.spoken_ms, budget_left_ms: g.budget_left_ms === undefined ? undefined : g.budget_left_ms - b.spoken_ms } : g)),
          venues: room.speaking.venues.map((g) => (g.name === ended.venue ? { ...g, turns: g.turns + 1, spoken_ms: g.spoken_ms + b.spoken_ms } : g)),
        };
      }
      return log(state, e, "ended", b.reason);
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
      const open = (p: PollView): PollView => ({ ...p, spec: b.spec, state: "open", opened_at: e.at, deadline: b.deadline, eligible: b.eligible.length || p.eligible, turnout_binding: 0, turnout_advisory: 0, voted: false, my_choice: undefined, results: undefined });
      const existing = room.polls.find((p) => p.id === b.poll);
      room.polls = existing ? updatePoll(room, b.poll, open) : [...room.polls, open({ id: b.poll, spec: b.spec, state: "open", eligible: 0, turnout_binding: 0, turnout_advisory: 0, voted: false, named_ballots: [] })];
      return log(state, e, "poll", b.spec.question);
    }
    case "ballot_cast":
      // Turnout arrives in `tally` messages; a ballot event tells a voter theirs is in.
      if (b.voter === state.you.id) {
        room.polls = updatePoll(room, b.poll, (p) => ({ ...p, voted: true, my_choice: (b.choice as Choice | undefined) ?? p.my_choice }));
      }
      return state;
    case "poll_closed":
      room.polls = updatePoll(room, b.poll, (p) => ({ ...p, state: "closed", results: b.result ?? p.results }));
      return log(state, e, "poll_closed", room.polls.find((p) => p.id === b.poll)?.spec.question ?? "");
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
      room.comments = [...room.comments.filter((c) => c.id !== b.comment.id), b.comment];
      return b.comment.status === "approved" ? log(state, e, "comment", `${b.comment.author_name}：${b.comment.text}`) : state;
    case "comment_approved":
      room.comments = [...room.comments.filter((c) => c.id !== b.comment.id), b.comment];
      return log(state, e, "comment", `${b.comment.author_name}：${b.comment.text}`);
    case "comment_rejected":
      room.comments = room.comments.map((c) => (c.id === b.comment ? { ...c, status: "rejected" } : c));
      return state;
    case "question_asked":
    case "question_approved":
      room.questions = [...room.questions.filter((q) => q.id !== b.question.id), b.question];
      return b.question.status === "approved" ? log(state, e, "question", b.question.text) : state;
    case "question_rejected":
      room.questions = room.questions.map((q) => (q.id === b.question ? { ...q, status: "rejected" } : q));
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
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function limitOf(room: RoomSnapshot, kind: EntryKind): number {
  return room.settings.limits[`${kind}_s` as keyof typeof room.settings.limits];
}

function mapTurn(turn: Turn | undefined, id: number, f: (t: Turn) => Turn): Turn | undefined {
  return turn && turn.id === id ? f(turn) : turn;
}

/** Put entry `id` at `position` among the entries of its kind, as shown now. */
function placeAt(queue: QueueEntry[], id: number, position: number, room: RoomSnapshot): QueueEntry[] {
  const entry = queue.find((q) => q.id === id);
  if (!entry) return queue;
  const sameKind = ordered(queue, room).filter((q) => q.kind === entry.kind && q.id !== id);
  sameKind.splice(Math.min(position, sameKind.length), 0, entry);
  return [...queue.filter((q) => q.kind !== entry.kind), ...sameKind];
}

/**
 * Estimates the server clock's offset from ours (server = local + offset) from ping/pong
 * samples: the server's time is taken to be halfway through the round trip, and the
 * sample with the shortest round trip wins, since its midpoint guess is the tightest.
 */
export class ClockOffset {
  private bestRtt = Infinity;
  offset = 0;

  /** A pong (or welcome) carrying `serverTime`, for a ping sent at `sentAt`, received at `receivedAt` (local ms). */
  sample(serverTime: number, sentAt: number, receivedAt: number): number {
    const rtt = Math.max(0, receivedAt - sentAt);
    if (rtt <= this.bestRtt) {
      this.bestRtt = rtt;
      this.offset = serverTime + rtt / 2 - receivedAt;
    }
    return this.offset;
  }
}
