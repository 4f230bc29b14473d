// Application state as signals: the room (from the reducer), the connection status, the
// clock offset, and one function to send commands.
import { computed, signal } from "@preact/signals";
import type { Command } from "./protocol/Command";
import type { ServerMessage } from "./protocol/ServerMessage";
import { Connection, type Status } from "./conn";
import { initial, reduce, type RoomState } from "./room";
import { browserDeps, MediaController } from "./media";

export const room = signal<RoomState | undefined>(undefined);
export const status = signal<Status>("connecting");
export const statusDetail = signal<string>("");
export const lastError = signal<string>("");
/** Server clock minus ours, in ms. */
export const offset = signal(0);
/** The server's time now, updated four times a second for countdowns. */
export const serverNow = signal(Date.now());
/** Announcements for screen readers (floor changes, warnings). */
export const announcement = signal("");

setInterval(() => (serverNow.value = Date.now() + offset.value), 250);

let conn: Connection | undefined;

/** Audio and video, signalled over the room's connection. */
export const media = new MediaController(browserDeps((m) => conn?.post(m) ?? false));
if (typeof window !== "undefined") {
  // For the end-to-end tests and debugging: the peer connection and the media state.
  (window as unknown as { __yishiMedia: MediaController }).__yishiMedia = media;
  window.addEventListener("pagehide", () => media.leave());
}

export function onMessage(msg: ServerMessage): void {
  if (media.handle(msg)) return;
  if (msg.type === "welcome") media.welcome(msg);
  if (msg.type === "welcome" && !room.value) {
    room.value = initial(msg);
    return;
  }
  if (msg.type === "error" && !msg.req) lastError.value = msg.message;
  if (!room.value) return;
  const next = reduce(room.value, msg);
  if (next.gap) {
    // A batch went missing: reconnecting resumes from the last one applied.
    conn?.stop();
    connect(tokenInUse, urlInUse);
  }
  room.value = next;
}

/** The join token in use (the host console exports the record with it). */
export let tokenInUse = "";
let urlInUse = "";

export function connect(token: string, url: string): void {
  tokenInUse = token;
  urlInUse = url;
  conn = new Connection({
    url,
    token,
    onMessage,
    onStatus: (s, d) => {
      status.value = s;
      statusDetail.value = d ?? "";
    },
    onOffset: (o) => (offset.value = o),
    resumePoint: () => (room.value ? { session: room.value.session, last_seq: room.value.through } : undefined),
  });
  conn.start();
}

/** Send a command; errors show in the banner. */
export async function act(command: Command): Promise<boolean> {
  if (!conn) return false;
  try {
    await conn.send(command);
    lastError.value = "";
    return true;
  } catch (e) {
    const err = e as { message?: string; code?: string };
    lastError.value = err.message ?? String(e);
    return false;
  }
}

export const me = computed(() => room.value?.you);
/** The reason recorded with the chair's overrides (reorder, remove, out-of-order grant). */
export const overrideReason = signal("");
