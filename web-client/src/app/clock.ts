// Server time on the client: the offset from ping/pong samples, and turn clocks.
import type { Turn } from "../protocol/Turn";

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

/** Seconds left until `deadline` (server ms) at `serverNow`, never below zero. */
export function secondsLeft(deadline: number, serverNow: number): number {
  return Math.max(0, Math.ceil((deadline - serverNow) / 1000));
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
