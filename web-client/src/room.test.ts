import { describe, expect, it } from "vitest";
import type { RoomSnapshot } from "./protocol/RoomSnapshot";
import type { ServerMessage } from "./protocol/ServerMessage";
import type { Turn } from "./protocol/Turn";
import { clock, ClockOffset, initial, ordered, reduce, remaining, type RoomState } from "./room";
import { describe as tell } from "./livetext";

const snapshot: RoomSnapshot = {
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
};

function start(): RoomState {
  const welcome: ServerMessage = {
    type: "welcome",
    protocol: 1,
    session: "s1",
    you: { id: "m1", name: "张三", role: "member", grants: [] },
    view: "member",
    server_time: 1_000,
    snapshot,
  };
  return initial(welcome as Extract<ServerMessage, { type: "welcome" }>)!;
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

describe("the reducer", () => {
  it("applies a batch that follows the last one and moves `through`", () => {
    const s = reduce(start(), {
      type: "events",
      from: 11,
      through: 12,
      events: [
        { seq: 11, at: 5, body: { type: "entry_added", entry: { id: 1, item: 0, participant: "m1", name: "张三", kind: "impromptu", requested_at: 5 } } },
        { seq: 12, at: 6, body: { type: "entry_added", entry: { id: 2, item: 0, participant: "m2", name: "李四", kind: "interjection", requested_at: 6 } } },
      ],
    });
    expect(s.through).toBe(12);
    expect(ordered(s.room.queue, s.room).map((e) => e.participant)).toEqual(["m2", "m1"]);
  });

  it("flags a gap when a batch does not follow", () => {
    const s = reduce(start(), { type: "events", from: 13, through: 13, events: [] });
    expect(s.gap).toBe(true);
    expect(s.through).toBe(10);
  });

  it("an interjection suspends the speaker and their clock comes back with the time left", () => {
    let s = start();
    s = reduce(s, { type: "events", from: 11, through: 11, events: [{ seq: 11, at: 100_000, body: { type: "turn_started", turn: turn() } }] });
    s = reduce(s, {
      type: "events",
      from: 12,
      through: 13,
      events: [
        { seq: 12, at: 160_000, body: { type: "turn_paused", turn: 1, reason: "interjection" } },
        { seq: 13, at: 160_000, body: { type: "turn_started", turn: turn({ id: 2, participant: "m3", kind: "interjection", limit_ms: 60_000, started_at: 160_000, running_since: 160_000 }), interrupts: 1 } },
      ],
    });
    expect(s.room.floor?.id).toBe(2);
    expect(s.room.suspended.map((t) => t.id)).toEqual([1]);
    s = reduce(s, {
      type: "events",
      from: 14,
      through: 15,
      events: [
        { seq: 14, at: 190_000, body: { type: "turn_ended", turn: 2, spoken_ms: 30_000, reason: "yielded" } },
        { seq: 15, at: 190_000, body: { type: "turn_resumed", turn: 1 } },
      ],
    });
    expect(s.room.floor?.id).toBe(1);
    expect(remaining(s.room.floor!, 190_000)).toBe(240_000);
    expect(s.room.speaking.participants[0]).toMatchObject({ participant: "m3", turns: 1, spoken_ms: 30_000 });
  });

  it("a pending comment of mine shows; its approval replaces it", () => {
    let s = start();
    const comment = { id: 1, author: "m1", author_name: "张三", text: "建议", at: 1, status: "pending" as const, flagged: false };
    s = reduce(s, { type: "events", from: 11, through: 11, events: [{ seq: 11, at: 1, body: { type: "comment_posted", comment } }] });
    s = reduce(s, { type: "events", from: 12, through: 12, events: [{ seq: 12, at: 2, body: { type: "comment_approved", comment: { ...comment, status: "approved" } } }] });
    expect(s.room.comments).toHaveLength(1);
    expect(s.room.comments[0].status).toBe("approved");
  });

  it("the viewer count comes from viewers messages", () => {
    expect(reduce(start(), { type: "viewers", count: 1234 }).viewers).toBe(1234);
  });

  it("tally messages update turnout without an event", () => {
    let s = start();
    s = { ...s, room: { ...s.room, polls: [{ id: 1, spec: { question: "q", method: { kind: "yes_no_abstain" }, binding: true, advisory: false, secret: true, visibility: "after_close", allow_change: false, majority: { rule: "simple", of: "cast" } }, state: "open", eligible: 3, turnout_binding: 0, turnout_advisory: 0, voted: false, named_ballots: [] }] } };
    s = reduce(s, { type: "tally", poll: 1, turnout_binding: 2, turnout_advisory: 0 });
    expect(s.room.polls[0].turnout_binding).toBe(2);
    expect(s.through).toBe(10);
  });
});

describe("the live text stream", () => {
  it("tells what happened in words, not codes", () => {
    let s = start();
    s = reduce(s, {
      type: "events",
      from: 11,
      through: 13,
      events: [
        { seq: 11, at: 1, body: { type: "turn_started", turn: turn() } },
        { seq: 12, at: 2, body: { type: "turn_warned", turn: 1 } },
        { seq: 13, at: 3, body: { type: "turn_ended", turn: 1, spoken_ms: 300_000, reason: "time_up" } },
      ],
    });
    expect(s.log.map((l) => tell(l))).toEqual(["正在发言：李四", "发言时间即将结束", "发言时间到，已收回发言权"]);
  });
});

describe("the clock offset", () => {
  it("puts the server's time halfway through the round trip", () => {
    const c = new ClockOffset();
    // Ping at local 1000, pong at local 1100 carrying server time 5050: the server read
    // its clock around local 1050, so it is 4000 ms ahead.
    expect(c.sample(5_050, 1_000, 1_100)).toBe(4_000);
  });

  it("keeps the sample with the shortest round trip", () => {
    const c = new ClockOffset();
    c.sample(5_050, 1_000, 1_100); // rtt 100 → 4000
    expect(c.sample(9_000, 2_000, 2_800)).toBe(4_000); // rtt 800: a worse guess, ignored
    expect(c.sample(7_010, 3_000, 3_020)).toBe(4_000); // rtt 20 → 7010 + 10 - 3020 = 4000
    expect(c.sample(7_100, 3_000, 3_010)).toBe(4_095); // rtt 10 → tighter, taken
  });

  it("makes two screens with different local clocks show the same countdown", () => {
    const t = turn();
    const a = new ClockOffset();
    const b = new ClockOffset();
    // Screen A's clock is right; screen B's runs 7 s behind. Both ping the same server.
    a.sample(160_000, 159_990, 160_010);
    b.sample(160_000, 152_990, 153_010);
    const localA = 170_000;
    const localB = 163_000;
    expect(remaining(t, localA + a.offset)).toBe(remaining(t, localB + b.offset));
  });
});

describe("the clock", () => {
  it("counts down from the server's deadline, whatever the local clock says", () => {
    const t = turn();
    // The server's clock is what matters: remaining() takes server time.
    expect(remaining(t, 100_000 + 61_000)).toBe(239_000);
    expect(remaining({ ...t, running_since: undefined, elapsed_ms: 61_000 }, 999_999_999)).toBe(239_000);
  });

  it("shows minutes and seconds, negative past the limit", () => {
    expect(clock(239_000)).toBe("3:59");
    expect(clock(-5_000)).toBe("-0:05");
    expect(clock(0)).toBe("0:00");
  });
});
