// Names, never ids: how a participant is shown, from what the room knows of them.
import type { Key } from "../i18n";
import { t } from "../i18n";
import type { Role } from "../protocol/Role";
import type { RoomState } from "./reducer";

export interface Who {
  name: string;
  role?: Role;
  sector?: string;
  venue?: string;
  present?: boolean;
}

/** A venue's speaker with the venue: "赵委员（城东分会场）". */
export function speakerName(speaker: string | undefined, name: string): string {
  return speaker ? t("withVenue", { speaker, venue: name }) : name;
}

/** What the room knows of `id`: attendance, the floor, the queue, speaking time, me. */
export function who(state: RoomState | undefined, id: string | undefined): Who | undefined {
  if (!state || !id) return undefined;
  if (id === state.you.id) return { ...state.you, present: true };
  const r = state.room;
  const a = r.attendance.find((x) => x.participant === id);
  if (a) return a;
  const turn = [r.floor, ...r.suspended].find((x) => x?.participant === id);
  if (turn) return { name: speakerName(turn.speaker, turn.name), sector: turn.sector, venue: turn.venue };
  const entry = r.queue.find((e) => e.participant === id);
  if (entry) return { name: entry.name, sector: entry.sector, venue: entry.venue };
  const spoke = r.speaking.participants.find((p) => p.participant === id);
  if (spoke) return { name: spoke.name };
  return undefined;
}

/** A display name for `id`; never the id itself. */
export function nameOf(state: RoomState | undefined, id: string | undefined): string {
  return who(state, id)?.name ?? t("someone");
}

export function roleName(role: Role | undefined): string {
  return role ? t(`role_${role}` as Key) : "";
}

/** Role, sector and venue, as a short line under a name. */
export function details(w: Who | undefined): string {
  if (!w) return "";
  return [roleName(w.role), w.sector, w.venue].filter(Boolean).join(" · ");
}
