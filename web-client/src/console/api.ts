// The console's calls to the server's API with the staff session's cookie; changes carry
// the session's CSRF token. Errors come back as their code (never the server's message).
import type { Attendance } from "../protocol/Attendance";
import type { DutyView, MessageView, OutcomeView, Stage, StudioPage, StudioSummary, TopicPage, TopicSummary } from "../board/api";

export type { MessageView, OutcomeView, Stage, TopicPage, TopicSummary };

export interface Me {
  name: string;
  role: "admin" | "clerk";
  csrf: string;
}

export interface Room {
  id: string;
  title: string;
  kind: "consultation" | "lecture";
  created_at: number;
  closed_at: number | null;
}

/** One line of the audit log: who did what to what, when (epoch ms). */
export interface AuditEntry {
  id: number;
  at: number;
  staff: string;
  action: string;
  target: string;
}

export interface StaffAccount {
  name: string;
  role: "admin" | "clerk";
  has_password: boolean;
  locked: boolean;
}

export interface Member {
  id: number;
  number: string | null;
  name: string;
  sector: string;
  venue: string;
  /** Masked (138****5678) except to admins. */
  phone: string;
  active: boolean;
  created_at: number;
  updated_at: number;
}

export interface Roster {
  members: Member[];
  total: number;
  active: number;
}

/** A row's problem: its code and, for some, the row or field it concerns. */
export interface RowError {
  code: "name_missing" | "name_too_long" | "too_long" | "phone_invalid" | "phone_masked" | "number_duplicate";
  row?: number;
  field?: "number" | "sector" | "venue";
}

export interface PreviewRow {
  /** The row number in the file, as the spreadsheet shows it. */
  row: number;
  status: "new" | "update" | "error";
  number: string | null;
  name: string;
  sector: string | null;
  venue: string | null;
  phone: string;
  errors: RowError[];
  /** The stored member an update changes. */
  current: Member | null;
}

export interface Preview {
  filename: string | null;
  format: "csv_utf8" | "csv_utf16" | "csv_gb18030" | "spreadsheet";
  columns: string[];
  ignored_columns: string[];
  counts: { total: number; new: number; update: number; error: number };
  rows: PreviewRow[];
}

/** A refused call: the API's error code, or `network` when the server was not reached. */
export class ApiError extends Error {
  constructor(readonly code: string, readonly status: number) {
    super(code);
  }
}

let csrf = "";

/** Called when a call made in a session is refused with 401: the session has expired. */
let expired: () => void = () => undefined;
export function onSessionExpired(handler: () => void) {
  expired = handler;
}

/** Calls whose 401 is an answer of their own, not an expired session. */
const SESSIONLESS = ["/staff/me", "/staff/login", "/staff/password"];

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  const file = body instanceof Blob;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      credentials: "same-origin",
      headers: {
        ...(body === undefined ? {} : { "content-type": file ? "application/octet-stream" : "application/json" }),
        ...(method === "GET" ? {} : { "x-csrf-token": csrf }),
      },
      body: body === undefined ? undefined : file ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("network", 0);
  }
  if (!response.ok) {
    if (response.status === 401 && !SESSIONLESS.includes(path)) expired();
    const data = await response.json().catch(() => ({}));
    throw new ApiError(typeof data.code === "string" ? data.code : "internal", response.status);
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  async me(): Promise<Me> {
    const me = await call<Me>("GET", "/staff/me");
    csrf = me.csrf;
    return me;
  },
  async login(name: string, password: string): Promise<Me> {
    const me = await call<Me>("POST", "/staff/login", { name, password });
    csrf = me.csrf;
    return me;
  },
  logout: () => call<void>("POST", "/staff/logout"),
  setPassword: (token: string, password: string) => call<void>("POST", "/staff/password", { token, password }),
  rooms: async () => (await call<{ rooms: Room[] }>("GET", "/rooms")).rooms,
  createRoom: (title: string, kind: Room["kind"]) => call<Room>("POST", "/rooms", { title, kind }),
  staff: () => call<StaffAccount[]>("GET", "/staff"),
  audit: () => call<AuditEntry[]>("GET", "/staff/audit"),
  addStaff: (name: string, role: StaffAccount["role"]) => call<{ link: string }>("POST", "/staff", { name, role }),
  roster: (q: string) => call<Roster>("GET", `/roster?q=${encodeURIComponent(q)}`),
  previewRoster: (file: File) => call<Preview>("POST", `/roster/import/preview?filename=${encodeURIComponent(file.name)}`, file),
  importRoster: (file: File) => call<{ added: number; updated: number }>("POST", `/roster/import?filename=${encodeURIComponent(file.name)}`, file),
  setMemberActive: (id: number, active: boolean) => call<Member>("PATCH", `/roster/${id}`, { active }),
  /** Studio messages past their reply deadline by the end of `day` (Beijing), or now. */
  overdue: (day?: string) => call<{ at: number; messages: OverdueMessage[] }>("GET", `/board/staff/overdue${day ? `?day=${day}` : ""}`),
};

/** A studio message published, not replied to, past its reply deadline (docs/board.md). */
export interface OverdueMessage {
  id: number;
  member: number;
  studio_name: string;
  sender_name: string;
  title: string | null;
  text: string;
  published_at: number | null;
  due: number | null;
}

/** A 社情民意 item with the studio message it was filed from (docs/board.md). */
export interface SocialReport {
  id: number;
  title: string;
  text: string;
  at: number;
  by_name: string;
  message: MessageView;
}

/** Members' studios for staff: duty slots (会客时间) and 社情民意 items. */
export type StudioCommand =
  | { type: "schedule_duty"; member: number; title: string; starts_at: number; ends_at: number }
  | { type: "cancel_duty"; slot: number }
  | { type: "message_to_report"; message: number; title: string; text?: string }
  | { type: "open_studio"; member: number; name: string; sector: string; photo: string | null; interests: string[]; deadline_days: number };

export const studioStaffApi = {
  command: (command: StudioCommand) => call<{ seq: number }>("POST", "/board/staff/commands", command),
  studios: async () => (await call<{ studios: StudioSummary[] }>("GET", "/board/studios")).studios,
  /** A studio's public page: its published messages. */
  studio: (member: number) => call<StudioPage>("GET", `/board/studios/${member}`),
  duty: async () => (await call<{ slots: DutyView[] }>("GET", "/board/staff/duty")).slots,
  reports: async () => (await call<{ reports: SocialReport[] }>("GET", "/board/staff/reports")).reports,
  /** Upload a studio photo (JPEG, PNG or WebP, at most 2 MiB): where it is served. */
  photo: (image: Blob) => call<{ id: string; url: string }>("POST", "/board/staff/photos", image),
};

/** The board's (码上议事) records as staff see them; the public shapes are the board page's. */
/** A topic or comment as submitted (the moderation queue). */
export interface PendingTopic {
  id: number;
  title: string;
  text: string;
  area: string;
  category: string;
  author_name: string;
  submitted_at: number;
}

export interface PendingComment {
  id: number;
  topic: number;
  author_name: string;
  text: string;
  stance: "for" | "against" | "suggestion" | null;
  at: number;
}

/** A moderator's decision: a rejection says why. */
export type Decision = { decision: "publish" } | { decision: "reject"; reason: string };

/** What waits for moderation, by its command's type and the field that names it. */
export type Moderated = { type: "moderate_topic"; topic: number } | { type: "moderate_comment"; comment: number } | { type: "moderate_message"; message: number };

/** A staff command on the board (docs/board.md), sent to `/board/staff/commands`. */
export type BoardCommand =
  | (Moderated & Decision)
  | { type: "advance_stage"; topic: number; to: Stage; note: string }
  | { type: "merge_topic"; duplicate: number; into: number }
  | { type: "post_comment"; topic: number; text: string }
  | { type: "set_threshold"; supports: number }
  | { type: "select_into_meeting"; topic: number; meeting: string }
  | { type: "record_opinion"; topic: number; text: string }
  | { type: "create_outcome"; topic: number; title: string; unit: string; due?: string; review?: string }
  | { type: "report_progress"; outcome: number; percent?: number; status?: OutcomeView["status"]; note: string }
  | { type: "review_outcome"; outcome: number; note: string };

export const boardStaffApi = {
  command: (command: BoardCommand) => call<{ seq: number }>("POST", "/board/staff/commands", command),
  queue: () => call<{ topics: PendingTopic[]; comments: PendingComment[]; messages: MessageView[] }>("GET", "/board/staff/queue"),
  shortlist: () => call<{ threshold: number; topics: TopicSummary[] }>("GET", "/board/staff/shortlist"),
  /** The 回头看 list as of `day` (YYYY-MM-DD; today by default). */
  review: (day?: string) => call<{ day: string; outcomes: OutcomeView[] }>("GET", `/board/staff/review${day ? `?day=${day}` : ""}`),
  /** The follow-up meeting (回头看会议) of that day's list: a meeting prepared with one agenda item per outcome. */
  reviewMeeting: (day: string) => call<Meeting & { outcomes: number[] }>("POST", "/board/staff/review/meeting", { day }),
  /** The published topics, newest first (the public list, at most 100). */
  topics: async (stage?: Stage) => (await call<{ topics: TopicSummary[] }>("GET", `/board/topics?limit=100${stage ? `&stage=${stage}` : ""}`)).topics,
  topic: (id: number) => call<TopicPage>("GET", `/board/topics/${id}`),
};

/** Where the roster's CSV export is downloaded from (a GET with the session cookie). */
export const rosterExportUrl = "/api/v1/roster/export?format=csv";

/** The participation records (履职档案) of a period (Beijing days, both included). */
/** What a participation record downloads as: Excel, text tables, or one page per member to print. */
export type ReportFormat = "csv" | "xlsx" | "pdf";

export function participationUrl(from: string, to: string, format: ReportFormat, table: "members" | "points"): string {
  const q = new URLSearchParams({ from, to, format, table });
  return `/api/v1/reports/participation?${q}`;
}

/** One meeting's figures in the statistics (统计) of a period. */
export interface MeetingFigures {
  room: string;
  title: string;
  /** `YYYY-MM-DD`, Beijing. */
  date: string;
  kind: Room["kind"];
  invited: number;
  present: number;
  absent: number;
  /** Present per thousand invited; null when no one was expected. */
  attendance_permille: number | null;
  venues: { venue: string; present: number; known: number; head_count: number | null }[];
  speeches: number;
  speech_ms: number;
}

export interface SectorFigures {
  /** Empty for speakers without a sector. */
  sector: string;
  speeches: number;
  speech_ms: number;
  speakers: number;
}

export interface MemberFigures {
  member_id: number;
  number: string | null;
  name: string;
  sector: string;
  venue: string;
  invited: number;
  attended: number;
  absent: number;
  attendance_permille: number | null;
  speeches: number;
  speech_ms: number;
}

/** `GET /api/v1/reports/statistics` (docs/reports.md). */
export interface Statistics {
  from: string;
  to: string;
  meetings: MeetingFigures[];
  sectors: SectorFigures[];
  members: MemberFigures[];
  top_speakers: MemberFigures[];
}

export type StatTable = "meetings" | "sectors" | "members";

/** The statistics of a period, for the charts. */
export const statistics = (from: string, to: string) => call<Statistics>("GET", `/reports/statistics?${new URLSearchParams({ from, to })}`);

/** Where one table of the statistics is downloaded as CSV. */
export function statisticsCsvUrl(from: string, to: string, table: StatTable): string {
  return `/api/v1/reports/statistics?${new URLSearchParams({ from, to, format: "csv", table })}`;
}

/** A join link for the room's host, named after the staff member who opens it. */
export const hostLink = async (room: string, name: string): Promise<string> =>
  (await call<{ link: string }>("POST", `/rooms/${encodeURIComponent(room)}/tokens`, { role: "host", name, ttl_s: 12 * 3600 })).link;

export type MeetingStatus = "scheduled" | "live" | "closed";
export type InviteRole = "member" | "respondent" | "host" | "recorder" | "venue";

export interface AgendaEntry {
  title: string;
  /** Each speaker's time on the item, in seconds (0: the room's default). */
  limit_s: number;
}

export interface VenueEntry {
  name: string;
  contact: string;
}

/** What the new-meeting and edit forms send. */
export interface MeetingInput {
  title: string;
  kind: Room["kind"];
  starts_at: number;
  ends_at: number;
  place: string;
  description: string;
  agenda: AgendaEntry[];
  venues: VenueEntry[];
  /** Start the livestream when the session opens. */
  livestream: boolean;
}

export interface Invitee {
  id: number;
  member_id: number | null;
  participant: string;
  name: string;
  sector: string;
  venue: string;
  role: InviteRole;
  /** 1 for the first link, one more for each re-issue. */
  serial: number;
  /** Seconds since the epoch. */
  not_before: number;
  expires_at: number;
  link: string;
  /** Where the link's QR code (SVG) is served, with the session's cookie. */
  qr: string;
}

export interface Meeting {
  id: string;
  title: string;
  kind: Room["kind"];
  status: MeetingStatus;
  created_at: number;
  closed_at: number | null;
  /** False for a room made without the console's preparation. */
  prepared: boolean;
  starts_at: number | null;
  ends_at: number | null;
  place: string;
  description: string;
  agenda: AgendaEntry[];
  venues: VenueEntry[];
  livestream: boolean;
  copied_from: string | null;
  invitees?: Invitee[];
  audience_link?: string;
  embed?: string;
  /** The recordings of its livestream that its record names, oldest first. */
  recordings?: MeetingRecording[];
}

/** A recording of a meeting's livestream, as its record names it. */
export interface MeetingRecording {
  file: string;
  bytes: number;
  sha256: string;
  /** When it was archived (the stream's end), milliseconds since the epoch. */
  at: number;
  /** Its entry in the record. */
  seq: number;
  /** Where staff download it (their session's cookie). */
  url: string;
}

const m = (id: string) => `/meetings/${encodeURIComponent(id)}`;

export const meetingsApi = {
  list: async () => (await call<{ meetings: Meeting[] }>("GET", "/meetings")).meetings,
  get: (id: string) => call<Meeting>("GET", m(id)),
  create: (input: MeetingInput) => call<Meeting>("POST", "/meetings", input),
  edit: (id: string, input: MeetingInput) => call<Meeting>("PUT", m(id), input),
  duplicate: (id: string) => call<Meeting>("POST", `${m(id)}/duplicate`, {}),
  invite: (id: string, members: { id: number; role: InviteRole }[], people: { name: string; role: InviteRole; sector: string }[] = []) =>
    call<Meeting & { added: number }>("POST", `${m(id)}/invitees`, { members, people }),
  reissue: (id: string, who: number) => call<Invitee>("POST", `${m(id)}/invitees/${who}/reissue`, {}),
  remove: (id: string, who: number) => call<void>("DELETE", `${m(id)}/invitees/${who}`),
  host: async (id: string) => (await call<{ link: string }>("POST", `${m(id)}/host`, {})).link,
  /** Who is in the room now and who checked in, as its host sees it. */
  attendance: async (id: string) => (await call<{ attendance: Attendance[] }>("GET", `/rooms/${encodeURIComponent(id)}/attendance`)).attendance,
};

/** A webhook subscription; `secret` only in the answer that created it. */
export interface Webhook {
  id: string;
  url: string;
  types: string[];
  enabled: boolean;
  created_by: string;
  created_at: number;
  secret?: string;
}

/** A line of a webhook's delivery log (times in ms since the epoch). */
export interface Delivery {
  id: string;
  type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

const w = (id: string) => `/webhooks/${encodeURIComponent(id)}`;

export const webhooksApi = {
  list: async () => (await call<{ webhooks: Webhook[] }>("GET", "/webhooks")).webhooks,
  create: (url: string, types: string[]) => call<Webhook>("POST", "/webhooks", { url, types }),
  remove: (id: string) => call<void>("DELETE", w(id)),
  test: (id: string) => call<{ id: string }>("POST", `${w(id)}/test`, {}),
  deliveries: async (id: string) => (await call<{ deliveries: Delivery[] }>("GET", `${w(id)}/deliveries`)).deliveries,
};

/** The formats the minutes are downloaded in: the one to print or file, the office's editable one, text. */
export const MINUTES_FORMATS = ["pdf", "docx", "md"] as const;

/** Where a room's minutes are downloaded from (a GET with the session cookie). */
export const minutesUrl = (room: string, format: (typeof MINUTES_FORMATS)[number]) =>
  `/api/v1/rooms/${encodeURIComponent(room)}/minutes?format=${format}`;

/** What an API key may do (see docs/api.md). */
export const SCOPES = [
  "meetings:read",
  "meetings:write",
  "roster:read",
  "roster:write",
  "reports:read",
  "board:read",
  "board:moderate",
  "webhooks:manage",
] as const;
export type Scope = (typeof SCOPES)[number];

/** An API key for a machine; `secret` only in the answer that created it. Times in ms. */
export interface ApiKey {
  id: number;
  name: string;
  scopes: Scope[];
  created_by: string;
  created_at: number;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
  status: "active" | "expired" | "revoked";
  secret?: string;
}

export const keysApi = {
  list: () => call<ApiKey[]>("GET", "/api-keys"),
  create: (name: string, scopes: Scope[], expires_in_days: number | null) =>
    call<ApiKey>("POST", "/api-keys", { name, scopes, expires_in_days }),
  revoke: (id: number) => call<ApiKey>("DELETE", `/api-keys/${id}`),
};
