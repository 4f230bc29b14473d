import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Connection, CommandError, type EndCause, type WebSocketLike } from "./conn";

/** A socket the test drives: what the client sent, and a way to answer or drop it. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

const welcome = { type: "welcome", protocol: 1, session: "s1", you: { id: "m1", name: "x", role: "member", grants: [] }, view: "member", server_time: 0 };

function setup() {
  const sockets: FakeSocket[] = [];
  const ended: EndCause[] = [];
  const conn = new Connection({
    url: "ws://x",
    token: "t",
    onMessage: () => {},
    onStatus: () => {},
    onEnd: (c) => ended.push(c),
    onOffset: () => {},
    resumePoint: () => ({ session: "s1", last_seq: 5 }),
    socket: () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
  });
  return { conn, sockets, ended };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("the connection", () => {
  it("re-sends unanswered commands after a resume with their original request ids", async () => {
    const { conn, sockets } = setup();
    conn.start();
    sockets[0].open();
    sockets[0].receive(welcome);
    const p = conn.send({ type: "request_floor", kind: "impromptu" });
    const first = sockets[0].sent.find((m) => m.type === "command")!;
    sockets[0].drop();
    // Sent while down: it waits.
    const q = conn.send({ type: "check_in" });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sockets.length).toBe(2);
    sockets[1].open();
    expect(sockets[1].sent[0]).toMatchObject({ type: "hello", resume: { session: "s1", last_seq: 5 } });
    sockets[1].receive({ ...welcome, snapshot: undefined });
    const again = sockets[1].sent.filter((m) => m.type === "command");
    expect(again.map((m) => m.req)).toEqual([first.req, expect.any(String)]);
    expect(again[0].command).toEqual({ type: "request_floor", kind: "impromptu" });
    sockets[1].receive({ type: "ack", req: first.req, seq: 9 });
    sockets[1].receive({ type: "error", req: again[1].req, code: "invalid_state", message: "not now" });
    await expect(p).resolves.toBe(9);
    await expect(q).rejects.toEqual(new CommandError("invalid_state"));
    expect(conn.inFlight).toEqual([]);
  });

  it("tries a resent command again when the server refuses the burst, but not a new one", async () => {
    const { conn, sockets } = setup();
    conn.start();
    sockets[0].open();
    sockets[0].receive(welcome);
    sockets[0].drop();
    const queued = conn.send({ type: "check_in" });
    await vi.advanceTimersByTimeAsync(1_000);
    sockets[1].open();
    sockets[1].receive({ ...welcome, snapshot: undefined });
    const resent = sockets[1].sent.filter((m) => m.type === "command");
    expect(resent.length).toBe(1);
    sockets[1].receive({ type: "error", req: resent[0].req, code: "rate_limited", message: "slow down" });
    expect(conn.inFlight).toEqual([resent[0].req]);
    await vi.advanceTimersByTimeAsync(1_000);
    const again = sockets[1].sent.filter((m) => m.type === "command");
    expect(again.map((m) => m.req)).toEqual([resent[0].req, resent[0].req]);
    sockets[1].receive({ type: "ack", req: resent[0].req, seq: 12 });
    await expect(queued).resolves.toBe(12);
    // A command the user sends now is refused at once: the user is told to slow down.
    const fresh = conn.send({ type: "check_in" });
    const sent = sockets[1].sent.filter((m) => m.type === "command").at(-1)!;
    sockets[1].receive({ type: "error", req: sent.req, code: "rate_limited", message: "slow down" });
    await expect(fresh).rejects.toEqual(new CommandError("rate_limited"));
  });

  it("ends with the error that came before a final close code", () => {
    const { conn, sockets, ended } = setup();
    conn.start();
    sockets[0].open();
    sockets[0].receive({ type: "error", code: "room_not_found", message: "no such room" });
    sockets[0].drop(4001);
    expect(ended).toEqual(["room_not_found"]);
    const d = setup();
    d.conn.start();
    d.sockets[0].open();
    d.sockets[0].receive(welcome);
    d.sockets[0].drop(4005);
    expect(d.ended).toEqual(["displaced"]);
  });

  it("gives up on a first connection that is never welcomed, and says so", async () => {
    const { conn, sockets, ended } = setup();
    conn.start();
    sockets[0].drop();
    await vi.advanceTimersByTimeAsync(16_000);
    expect(ended).toEqual(["unreachable"]);
    const n = sockets.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(sockets.length).toBe(n);
  });
});
