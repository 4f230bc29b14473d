import { describe, expect, it } from "vitest";
import type { Event } from "../protocol/Event";
import type { QueueEntry } from "../protocol/QueueEntry";
import type { RoomSnapshot } from "../protocol/RoomSnapshot";
import type { Turn } from "../protocol/Turn";
import { clock, ClockOffset, remaining } from "./clock";
import { initial, reduce, type RoomState, type Welcome } from "./reducer";
import { noticesFor, withNotices } from "./notices";
import { describe as tell } from "../feed/FeedPanel";

export const snapshot: RoomSnapshot = {
  seq: 10,
  title: "协商会",
  session: "in_session",
  agenda: [],
  current_item: 0,
  settings: {
    limits: { point_of_order_s: 60, interjection_s: 60, reply_s: 180, scheduled_s: 480, impromptu_s: 300 },
    warning_s: 60,
    overrun: "soft",
    grace_s: 10,
    drop_grace_s: 30,
    on_drop: "end",
    ordering: "first_come",
    moderation: "pre",
  },
  floor_mode: "moderated",
  queue: [],
  ordering: "first_come",
  manual_order: false,
  suspended: [],
  speaking: { participants: [], sectors: [], venues: [] },
  polls: [],
  chat: [],
  comments: [],
  questions: [],
  attendance: [],
  moderation: { comments_approved: 0, comments_rejected: [], questions_approved: 0, questions_rejected: [], questions_merged: 0, flagged: 0 },
  feed: [],
};

export function start(snap: Partial<RoomSnapshot> = {}): RoomState {
  const welcome: Welcome = {
    type: "welcome",
    protocol: 1,
    session: "s1",
    you: { id: "m1", name: "张三", role: "member", grants: ["join", "publish_media", "request_floor", "vote_binding", "chat", "ask"] },
    view: "member",
    server_time: 1_000,
    snapshot: { ...snapshot, ...snap },
  };
  return initial(welcome)!;
}

const turn = (over: Partial<Turn> = {}): Turn => ({
  id: 1,
  participant: "m2",
  name: "李四",
  kind: "impromptu",
  started_at: 100_000,
  limit_ms: 300_000,
  elapsed_ms: 0,
  running_since: 100_000,
  warned: false,
  overran: false,
  ...over,
});

const entry = (id: number, participant: string, kind: QueueEntry["kind"] = "impromptu"): QueueEntry => ({ id, item: 0, participant, name: participant, kind, requested_at: id });

/** Apply `bodies` as one batch after `s.through`. */
function batch(s: RoomState, bodies: Array<Event["body"] | Event>, at = 5): RoomState {
  const events = bodies.map((b, i): Event => ("body" in b && "seq" in b ? (b as Event) : { seq: s.through + 1 + i, at, body: b as Event["body"] }));
  return reduce(s, { type: "events", from: s.through + 1, through: s.through + events.length, events });
}

describe("the reducer", () => {
  it("applies a batch that follows the last one and moves `through`", () => {
    const s = batch(start(), [{ type: "entry_added", entry: entry(1, "m1") }, { type: "entry_added", entry: entry(2, "m2") }]);
    expect(s.through).toBe(12);
    expect(s.room.queue.map((e) => e.id)).toEqual([1, 2]);
  });

  it("never sorts the queue: it appends, removes, and takes the server's order", () => {
    let s = batch(start(), [{ type: "entry_added", entry: entry(1, "m1") }, { type: "entry_added", entry: entry(2, "m2") }]);
    // An interjection is appended; the server says where it goes.
    s = batch(s, [{ type: "entry_added", entry: entry(3, "m3", "interjection") }, { type: "queue_ordered", item: 0, queue: [entry(3, "m3", "interjection"), entry(1, "m1"), entry(2, "m2")] }]);
    expect(s.room.queue.map((e) => e.id)).toEqual([3, 1, 2]);
    s = batch(s, [{ type: "turn_started", turn: turn({ participant: "m3" }), entry: 3 }, { type: "entry_withdrawn", entry: 2 }]);
    expect(s.room.queue.map((e) => e.id)).toEqual([1]);
    // A move waits for the order that follows it.
    s = batch(s, [{ type: "entry_added", entry: entry(4, "m4") }, { type: "entry_moved", entry: 4, position: 0, reason: "x" }]);
    expect(s.room.queue.map((e) => e.id)).toEqual([1, 4]);
  });

  it("another agenda item starts an empty list until its order arrives", () => {
    let s = batch(start({ agenda: [{ id: 1, title: "议题一", settings: { warning_s: 30 } }] }), [{ type: "entry_added", entry: entry(1, "m1") }]);
    s = batch(s, [{ type: "current_item_changed", item: 1 }]);
    expect(s.room.queue).toEqual([]);
    expect(s.room.settings.warning_s).toBe(30);
    s = batch(s, [{ type: "queue_ordered", item: 1, queue: [{ ...entry(7, "m2"), item: 1 }] }]);
    expect(s.room.queue.map((e) => e.id)).toEqual([7]);
  });

  it("flags a gap when a batch does not follow, and ignores a batch already applied", () => {
    const s = reduce(start(), { type: "events", from: 13, through: 13, events: [] });
    expect(s.gap).toBe(true);
    expect(s.through).toBe(10);
    const again = reduce(start(), { type: "events", from: 5, through: 10, events: [] });
    expect(again.gap).toBe(false);
  });

  it("an interjection suspends the speaker and their clock comes back with the time left", () => {
    let s = batch(start(), [{ type: "turn_started", turn: turn() }], 100_000);
    s = batch(
      s,
      [
        { type: "turn_paused", turn: 1, reason: "interjection" },
        { type: "turn_started", turn: turn({ id: 2, participant: "m3", kind: "interjection", limit_ms: 60_000, started_at: 160_000, running_since: 160_000 }), interrupts: 1 },
      ],
      160_000,
    );
    expect(s.room.floor?.id).toBe(2);
    expect(s.room.suspended.map((t) => t.id)).toEqual([1]);
    s = batch(s, [{ type: "turn_ended", turn: 2, spoken_ms: 30_000, reason: "yielded" }, { type: "turn_resumed", turn: 1 }], 190_000);
    expect(s.room.floor?.id).toBe(1);
    expect(remaining(s.room.floor!, 190_000)).toBe(240_000);
    expect(s.room.speaking.participants[0]).toMatchObject({ participant: "m3", turns: 1, spoken_ms: 30_000 });
  });

  it("my comment shows pending, then rejected with its reason", () => {
    const comment = { id: 1, author: "m1", author_name: "张三", text: "建议", at: 1, status: "pending" as const, flagged: false };
    let s = batch(start(), [{ type: "comment_posted", comment }]);
    s = batch(s, [{ type: "comment_rejected", comment: 1, reason: "off_topic" }]);
    expect(s.room.comments[0]).toMatchObject({ status: "rejected", rejected: "off_topic" });
  });

  it("knows from the opening whether I am in the binding electorate", () => {
    const spec = { question: "q", method: { kind: "yes_no_abstain" as const }, binding: true, advisory: false, secret: true, visibility: "after_close" as const, allow_change: false, majority: { rule: "simple" as const, of: "cast" as const } };
    let s = batch(start(), [{ type: "poll_opened", poll: 1, spec, eligible: ["m2"], entitled: 3 }]);
    expect(s.eligible[1]).toBe(false);
    s = batch(s, [{ type: "poll_opened", poll: 2, spec, eligible: ["m1", "m2"], entitled: 3 }]);
    expect(s.eligible[2]).toBe(true);
  });

  it("tally messages update turnout without an event", () => {
    const spec = { question: "q", method: { kind: "yes_no_abstain" as const }, binding: true, advisory: false, secret: true, visibility: "after_close" as const, allow_change: false, majority: { rule: "simple" as const, of: "cast" as const } };
    let s = start({ polls: [{ id: 1, spec, state: "open", eligible: 3, turnout_binding: 0, turnout_advisory: 0, voted: false, named_ballots: [] }] });
    s = reduce(s, { type: "tally", poll: 1, turnout_binding: 2, turnout_advisory: 0 });
    expect(s.room.polls[0].turnout_binding).toBe(2);
    expect(s.through).toBe(10);
  });
});

describe("the live text feed", () => {
  it("tells what happened in words, not codes, with the speaker's name", () => {
    const s = batch(start(), [
      { type: "turn_started", turn: turn() },
      { type: "turn_warned", turn: 1 },
      { type: "turn_ended", turn: 1, spoken_ms: 300_000, reason: "time_up" },
    ]);
    expect(s.feed.map(tell)).toEqual(["李四开始发言（即席发言）", "李四的发言时间即将结束", "李四的发言时间到，已收回发言权"]);
  });

  it("a late viewer reads the session so far from the snapshot", () => {
    const feed: Event[] = [
      { seq: 3, at: 1, body: { type: "session_changed", state: "in_session" } },
      { seq: 4, at: 2, body: { type: "turn_started", turn: turn() } },
      { seq: 5, at: 3, body: { type: "turn_ended", turn: 1, spoken_ms: 5_000, reason: "yielded" } },
    ];
    const s = start({ feed });
    expect(s.feed.map(tell)).toEqual(["会议进行中", "李四开始发言（即席发言）", "李四结束了发言"]);
  });
});

describe("what the meeting tells me", () => {
  it("being given the floor, the warning and the hard stop, each superseding the last", () => {
    const s = start();
    const given = noticesFor(s, [{ seq: 11, at: 1, body: { type: "turn_started", turn: turn({ participant: "m1" }) } }]);
    expect(given.map((n) => n.kind)).toEqual(["floor_given"]);
    const mine = batch(s, [{ type: "turn_started", turn: turn({ participant: "m1" }) }]);
    const warned = noticesFor(mine, [{ seq: 12, at: 2, body: { type: "turn_warned", turn: 1 } }]);
    const up = noticesFor(mine, [{ seq: 13, at: 3, body: { type: "turn_ended", turn: 1, spoken_ms: 1, reason: "time_up" } }]);
    let shown = withNotices([], given);
    shown = withNotices(shown, warned);
    expect(shown.map((n) => n.kind)).toEqual(["time_warning"]);
    shown = withNotices(shown, up);
    expect(shown.map((n) => n.kind)).toEqual(["time_up"]);
  });

  it("someone else's turn tells me nothing; a pause and my rejected question do", () => {
    const comment = { id: 4, author: "m1", author_name: "张三", text: "我的问题", at: 1, status: "pending" as const, flagged: false, upvotes: 0, answered: false, pinned: false };
    const s = start({ questions: [comment] });
    const n = noticesFor(s, [
      { seq: 11, at: 1, body: { type: "turn_started", turn: turn() } },
      { seq: 12, at: 2, body: { type: "session_changed", state: "paused" } },
      { seq: 13, at: 3, body: { type: "question_rejected", question: 4, reason: "duplicate" } },
    ]);
    expect(n.map((x) => [x.kind, x.reason, x.subject])).toEqual([
      ["paused", undefined, undefined],
      ["question_rejected", "duplicate", "我的问题"],
    ]);
  });
});

describe("the clock offset", () => {
  it("puts the server's time halfway through the round trip", () => {
    const c = new ClockOffset();
    expect(c.sample(5_050, 1_000, 1_100)).toBe(4_000);
  });

  it("keeps the sample with the shortest round trip", () => {
    const c = new ClockOffset();
    c.sample(5_050, 1_000, 1_100);
    expect(c.sample(9_000, 2_000, 2_800)).toBe(4_000);
    expect(c.sample(7_100, 3_000, 3_010)).toBe(4_095);
  });

  it("makes two screens with different local clocks show the same countdown", () => {
    const t = turn();
    const a = new ClockOffset();
    const b = new ClockOffset();
    a.sample(160_000, 159_990, 160_010);
    b.sample(160_000, 152_990, 153_010);
    expect(remaining(t, 170_000 + a.offset)).toBe(remaining(t, 163_000 + b.offset));
  });

  it("shows minutes and seconds, negative past the limit", () => {
    expect(clock(239_000)).toBe("3:59");
    expect(clock(-5_000)).toBe("-0:05");
    expect(clock(0)).toBe("0:00");
  });
});
