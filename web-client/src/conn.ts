// The connection to the room: hello, resume after a drop, commands with request ids,
// clock offset from pongs. Messages go to the reducer through `onMessage`.
import type { ClientMessage } from "./protocol/ClientMessage";
import type { Command } from "./protocol/Command";
import type { ServerMessage } from "./protocol/ServerMessage";
import { ClockOffset } from "./room";

export type Status = "connecting" | "open" | "reconnecting" | "closed";

export interface ConnOptions {
  url: string;
  token: string;
  onMessage: (msg: ServerMessage) => void;
  onStatus: (status: Status, detail?: string) => void;
  /** The resume point: the session id and the `through` of the last batch applied. */
  resumePoint: () => { session: string; last_seq: number } | undefined;
  onOffset: (offsetMs: number) => void;
}

/** Close codes after which reconnecting is pointless. */
const FINAL = new Set([4001, 4002, 4003]);

export class Connection {
  private ws?: WebSocket;
  private next = 0;
  private retry = 0;
  private stopped = false;
  private pingTimer?: ReturnType<typeof setInterval>;
  private pending = new Map<string, (m: ServerMessage) => void>();
  private pingSentAt = 0;
  private clock = new ClockOffset();

  constructor(private opts: ConnOptions) {}

  start(): void {
    this.open(false);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pingTimer);
    this.ws?.close(1000);
  }

  /** Send a command; resolves with the ack's seq or rejects with the error. */
  send(command: Command): Promise<number | undefined> {
    const req = `c${Date.now().toString(36)}-${++this.next}`;
    return new Promise((resolve, reject) => {
      this.pending.set(req, (m) => {
        if (m.type === "ack") resolve(m.seq);
        else if (m.type === "error") reject(m);
      });
      this.raw({ type: "command", req, command });
    });
  }

  /** Send a message that has no answer of its own (media signalling); false if not connected. */
  post(msg: ClientMessage): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private raw(msg: ClientMessage): void {
    this.post(msg);
  }

  private open(resuming: boolean): void {
    this.opts.onStatus(resuming ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.opts.url);
    this.ws = ws;
    ws.onopen = () => {
      const resume = resuming ? this.opts.resumePoint() : undefined;
      ws.send(JSON.stringify({ type: "hello", protocol: 1, token: this.opts.token, resume } satisfies ClientMessage));
      this.ping();
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.ping(), 10_000);
    };
    ws.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(ev.data as string) as ServerMessage;
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        this.retry = 0;
        this.opts.onStatus("open");
        this.sample(msg.server_time);
      }
      if (msg.type === "pong") this.sample(msg.server_time);
      if ((msg.type === "ack" || msg.type === "error") && msg.req && this.pending.has(msg.req)) {
        this.pending.get(msg.req)!(msg);
        this.pending.delete(msg.req);
      }
      this.opts.onMessage(msg);
    };
    ws.onclose = (ev) => {
      clearInterval(this.pingTimer);
      if (this.stopped) return;
      if (FINAL.has(ev.code)) {
        this.opts.onStatus("closed", ev.reason);
        return;
      }
      this.opts.onStatus("reconnecting");
      const delay = Math.min(10_000, 500 * 2 ** this.retry++) * (0.5 + Math.random() / 2);
      setTimeout(() => this.open(true), delay);
    };
  }

  private ping(): void {
    this.pingSentAt = Date.now();
    this.raw({ type: "ping" });
  }

  private sample(serverTime: number): void {
    this.opts.onOffset(this.clock.sample(serverTime, this.pingSentAt || Date.now(), Date.now()));
  }

}
