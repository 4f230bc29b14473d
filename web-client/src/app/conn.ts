// The connection to the room: hello, resume after a drop, commands with request ids,
// clock offset from pongs. Messages go to the model through `onMessage`.
//
// Commands not yet answered when the connection drops (or sent while it was down) are
// sent again after the resuming welcome, with their original request ids: the server
// applies each once and acknowledges a retry with the original sequence number.
import type { ClientMessage } from "../protocol/ClientMessage";
import type { Command } from "../protocol/Command";
import type { ErrorCode } from "../protocol/ErrorCode";
import type { ServerMessage } from "../protocol/ServerMessage";
import { ClockOffset } from "./clock";

export type Status = "connecting" | "open" | "reconnecting" | "ended";

/** Why the connection ended for good: an error code, or what the network did. */
export type EndCause = ErrorCode | "unreachable";

export interface ConnOptions {
  url: string;
  token: string;
  onMessage: (msg: ServerMessage) => void;
  onStatus: (status: Status) => void;
  /** The connection ended and will not come back by itself. */
  onEnd: (cause: EndCause) => void;
  /** The resume point: the session id and the `through` of the last batch applied. */
  resumePoint: () => { session: string; last_seq: number } | undefined;
  onOffset: (offsetMs: number) => void;
  /** How long the first connection may take to be welcomed before it is given up. */
  connectTimeoutMs?: number;
  /** Injected for tests. */
  socket?: (url: string) => WebSocketLike;
}

/** The part of a WebSocket the connection uses. */
export interface WebSocketLike {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

const OPEN = 1;

/** A command refused by the server (or never answered): its code, never its message. */
export class CommandError extends Error {
  constructor(readonly code: ErrorCode) {
    super(code);
  }
}

/** Close codes after which reconnecting is pointless, with the cause when no error said it. */
const FINAL: Record<number, ErrorCode> = {
  4001: "unauthorized",
  4002: "token_expired",
  4003: "protocol_version",
  4005: "displaced",
};

interface Pending {
  command: Command;
  resolve: (seq: number | undefined) => void;
  reject: (e: CommandError) => void;
  /** Sent again after a reconnect: the client's doing, not the user's. */
  resent?: boolean;
  /** How often a resent command was refused `rate_limited` and tried again. */
  retries?: number;
}

/** A resent command refused `rate_limited` is tried again this often at most, after a
 * pause of about this long (the server's burst is smaller than a long outage's queue). */
const RESEND_RETRIES = 20;
const RESEND_PAUSE_MS = 500;

export class Connection {
  private ws?: WebSocketLike;
  private next = 0;
  private retry = 0;
  private stopped = false;
  private welcomed = false;
  private pingTimer?: ReturnType<typeof setInterval>;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private giveUpTimer?: ReturnType<typeof setTimeout>;
  private pending = new Map<string, Pending>();
  private pingSentAt = 0;
  private clock = new ClockOffset();
  /** The last error without a request id: it says why a close is coming. */
  private lastError?: ErrorCode;
  private readonly prefix = `c${Date.now().toString(36)}`;

  constructor(private opts: ConnOptions) {}

  start(): void {
    this.stopped = false;
    this.welcomed = false;
    clearTimeout(this.giveUpTimer);
    this.giveUpTimer = setTimeout(() => {
      if (!this.welcomed && !this.stopped) this.end("unreachable");
    }, this.opts.connectTimeoutMs ?? 15_000);
    this.open(false);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.giveUpTimer);
    this.ws?.close(1000);
  }

  /** Commands sent and not yet answered, by request id (for tests and the UI). */
  get inFlight(): string[] {
    return [...this.pending.keys()];
  }

  /** Send a command; resolves with the ack's seq or rejects with a `CommandError`. */
  send(command: Command): Promise<number | undefined> {
    const req = `${this.prefix}-${++this.next}`;
    return new Promise((resolve, reject) => {
      this.pending.set(req, { command, resolve, reject });
      // Not connected: it goes out after the next welcome.
      if (this.welcomed) this.post({ type: "command", req, command });
    });
  }

  /** Send a message that has no answer of its own (media signalling); false if not connected. */
  post(msg: ClientMessage): boolean {
    if (this.ws?.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private end(cause: EndCause): void {
    this.stop();
    for (const p of this.pending.values()) p.reject(new CommandError(cause === "unreachable" ? "unavailable" : cause));
    this.pending.clear();
    this.opts.onStatus("ended");
    this.opts.onEnd(cause);
  }

  private open(resuming: boolean): void {
    this.opts.onStatus(resuming ? "reconnecting" : "connecting");
    this.welcomed = false;
    this.lastError = undefined;
    const ws = this.opts.socket ? this.opts.socket(this.opts.url) : (new WebSocket(this.opts.url) as unknown as WebSocketLike);
    this.ws = ws;
    ws.onopen = () => {
      const resume = resuming ? this.opts.resumePoint() : undefined;
      ws.send(JSON.stringify({ type: "hello", protocol: 1, token: this.opts.token, resume } satisfies ClientMessage));
    };
    ws.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(ev.data as string) as ServerMessage;
      } catch {
        return;
      }
      if (msg.type === "welcome") this.welcome(msg.server_time);
      if (msg.type === "pong") this.sample(msg.server_time);
      if (msg.type === "error" && !msg.req) this.lastError = msg.code;
      this.opts.onMessage(msg);
      // After the message is applied: an ack means the state already shows the command.
      if ((msg.type === "ack" || msg.type === "error") && msg.req) {
        const p = this.pending.get(msg.req);
        if (p && msg.type === "error" && msg.code === "rate_limited" && p.resent && (p.retries ?? 0) < RESEND_RETRIES) {
          this.retryLater(msg.req, p);
        } else if (p) {
          this.pending.delete(msg.req);
          if (msg.type === "ack") p.resolve(msg.seq);
          else p.reject(new CommandError(msg.code));
        }
      }
    };
    ws.onclose = (ev) => {
      clearInterval(this.pingTimer);
      if (this.stopped || ws !== this.ws) return;
      const final = FINAL[ev.code];
      if (final) return this.end(this.lastError && this.lastError !== "rate_limited" ? this.lastError : final);
      this.opts.onStatus(this.welcomed || resuming ? "reconnecting" : "connecting");
      const pause = ev.code === 4004 ? 2_000 : 500;
      const delay = Math.min(10_000, pause * 2 ** this.retry++) * (0.5 + Math.random() / 2);
      this.retryTimer = setTimeout(() => this.open(this.opts.resumePoint() !== undefined), delay);
    };
  }

  private welcome(serverTime: number): void {
    const first = !this.welcomed;
    this.welcomed = true;
    this.retry = 0;
    clearTimeout(this.giveUpTimer);
    this.sample(serverTime);
    this.opts.onStatus("open");
    this.ping();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.ping(), 10_000);
    if (first) {
      // What was sent before, and not answered, goes again with its own request id.
      for (const [req, p] of this.pending) {
        p.resent = true;
        this.post({ type: "command", req, command: p.command });
      }
    }
  }

  /** Send a resent command again after a pause, unless it was answered or the
   * connection went (the next welcome sends it anyway). */
  private retryLater(req: string, p: Pending): void {
    p.retries = (p.retries ?? 0) + 1;
    const ws = this.ws;
    setTimeout(
      () => {
        if (this.pending.get(req) === p && this.ws === ws && this.welcomed) this.post({ type: "command", req, command: p.command });
      },
      RESEND_PAUSE_MS * (0.5 + Math.random()),
    );
  }

  private ping(): void {
    this.pingSentAt = Date.now();
    this.post({ type: "ping" });
  }

  private sample(serverTime: number): void {
    this.opts.onOffset(this.clock.sample(serverTime, this.pingSentAt || Date.now(), Date.now()));
  }
}
