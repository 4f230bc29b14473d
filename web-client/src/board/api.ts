// The board's API (docs/board.md) as a resident's page calls it: the identity is the
// `yishi_resident` cookie the server sets (HttpOnly, so the page learns whether it has
// one by asking for the feed). Errors come back as their code, never the server's text.

export type Stage = "collecting" | "selecting" | "consulted" | "handling" | "done";
export const STAGES: Stage[] = ["collecting", "selecting", "consulted", "handling", "done"];
export type Stance = "for" | "against" | "suggestion";
export type NoticeKind =
  | "published" | "rejected" | "merged" | "stage_advanced" | "official_answer" | "opinion" | "outcome_created" | "progress" | "reviewed"
  | "message_published" | "message_rejected" | "replied" | "report_filed";

export interface TopicSummary {
  id: number;
  title: string;
  area: string;
  category: string;
  author_name: string;
  submitted_at: number;
  stage: Stage;
  supports: number;
  comments: number;
}

export interface TimelineEntry {
  seq: number;
  at: number;
  /** A topic's or outcome's timeline: never a studio message's kinds. */
  kind: Exclude<NoticeKind, "message_published" | "message_rejected" | "replied" | "report_filed">;
  stage: Stage | null;
  text: string;
}

export interface PublicComment {
  id: number;
  author_name: string;
  text: string;
  stance: Stance | null;
  at: number;
  official: boolean;
}

export interface OutcomeView {
  id: number;
  parent: number | null;
  title: string;
  unit: string;
  status: "assigned" | "handling" | "done";
  progress: number;
  due: string | null;
  review: string | null;
  reviewed: string | null;
  timeline: TimelineEntry[];
}

/** The counts of one electorate of a published poll. */
export interface Tally {
  ballots: number;
  counts: number[];
}

/** A poll opened under a topic's agenda item; its result once published. */
export interface MeetingPoll {
  question: string;
  method: "yes_no_abstain" | "single" | "multiple" | "rating";
  /** The counters' labels as the minutes write them (赞成/反对/弃权, the options, 1星…). */
  labels: string[];
  result: { binding: Tally | null; advisory: Tally | null; outcome: "passed" | "failed" | "no_quorum" | "not_declared" } | null;
}

/** What the topic's meeting did on its agenda item `议题：<title>` (协商过程), from the meeting's record. */
export interface InMeeting {
  meeting: string;
  /** The meeting's title. */
  title: string;
  item: string;
  /** When the meeting reached the item; null before. */
  started_at: number | null;
  /** The meeting's planned start, for one prepared in the console. */
  starts_at: number | null;
  speeches: { name: string; sector: string | null; started_at: number; spoken_ms: number | null }[];
  polls: MeetingPoll[];
  questions: { text: string; answered: boolean }[];
}

/** The labels of a poll's counters in the reader's words: yes/no/abstain and stars
 * translated, options as the chair wrote them. */
export function pollLabels(poll: MeetingPoll, words: { yes: string; no: string; abstain: string; stars: (n: number) => string }): string[] {
  if (poll.method === "yes_no_abstain") return [words.yes, words.no, words.abstain];
  if (poll.method === "rating") return poll.labels.map((_, i) => words.stars(i + 1));
  return poll.labels;
}

export interface TopicPage extends Omit<TopicSummary, "comments"> {
  text: string;
  followers: number;
  merged_into: number | null;
  meeting: string | null;
  opinion: string | null;
  /** Once selected into a meeting. */
  in_meeting?: InMeeting | null;
  timeline: TimelineEntry[];
  comments: PublicComment[];
  outcomes: OutcomeView[];
  me?: { supports: boolean; follows: boolean };
}

export interface Notice {
  seq: number;
  at: number;
  /** The topic; null for a notice about a message left in a studio. */
  topic: number | null;
  /** The topic's title, or the message's. */
  topic_title: string;
  /** The studio (its member's roster id) and the message, for a studio notice. */
  studio?: number;
  message?: number;
  kind: NoticeKind;
  text: string;
}

export interface StudioSummary {
  member: number;
  name: string;
  sector: string;
  photo: string | null;
  interests: string[];
  messages: number;
  replied: number;
}

export interface Reply {
  at: number;
  by_name: string;
  by_staff: boolean;
  public: boolean;
  text: string;
}

export interface PublicMessage {
  id: number;
  sender_name: string;
  title: string | null;
  text: string;
  at: number;
  replies: Reply[];
  topic: number | null;
  /** Filed as a 社情民意 item. */
  reported: boolean;
}

/** A message with all of it: for its sender, the studio's member and staff. */
export interface MessageView {
  id: number;
  member: number;
  studio_name: string;
  sender_name: string;
  title: string | null;
  text: string;
  at: number;
  moderation: { state: "pending" | "published" } | { state: "rejected"; reason: string };
  published_at: number | null;
  due: number | null;
  replies: Reply[];
  topic: number | null;
  /** The 社情民意 item staff filed from it. */
  report: number | null;
}

/** A duty slot (会客时间): `opening` from a few minutes before the start (即将开始),
 * `live` until the end (进行中); the room's links are given only then. */
export interface DutyView {
  id: number;
  member: number;
  studio_name: string;
  title: string;
  starts_at: number;
  ends_at: number;
  opens_at: number;
  room: string;
  phase: "upcoming" | "opening" | "live" | "ended" | "cancelled";
}

export interface StudioPage extends Omit<StudioSummary, "messages" | "replied"> {
  deadline_days: number;
  messages: PublicMessage[];
  /** With an identity: what I left here; for the studio's member, the inbox too. */
  me?: { messages: MessageView[]; inbox?: MessageView[]; overdue?: MessageView[] };
  /** Its duty slots not ended, earliest first. */
  slots: DutyView[];
}

export interface ListQuery {
  stage?: Stage;
  area?: string;
  category?: string;
  q?: string;
  offset?: number;
  limit?: number;
}

/** A refused call: the API's error code, or `network` when the server was not reached. */
export class ApiError extends Error {
  constructor(readonly code: string, readonly status: number) {
    super(code);
  }
}

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1/board${path}`, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("network", 0);
  }
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(typeof data.code === "string" ? data.code : "internal", response.status);
  }
  return (await response.json()) as T;
}

export type Command =
  | { type: "submit_topic"; title: string; text: string; area: string; category: string }
  | { type: "support" | "follow" | "unfollow"; topic: number }
  | { type: "post_comment"; topic: number; text: string; stance?: Stance }
  | { type: "post_message"; member: number; title?: string; text: string }
  | { type: "reply_message"; message: number; text: string; public: boolean };

export const boardApi = {
  topics(q: ListQuery) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") params.set(k, String(v));
    return call<{ topics: TopicSummary[]; total: number; offset: number; limit: number }>("GET", `/topics?${params}`);
  },
  topic: (id: number) => call<TopicPage>("GET", `/topics/${id}`),
  identity: (name: string) => call<{ identity: string; name: string; verified: boolean }>("POST", "/identity", { name }),
  command: (command: Command) => call<{ seq: number }>("POST", "/commands", command),
  feed: () => call<{ identity: string; notices: Notice[] }>("GET", "/feed"),
  studios: () => call<{ studios: StudioSummary[] }>("GET", "/studios"),
  studio: (member: number) => call<StudioPage>("GET", `/studios/${member}`),
  /** 进入会客室: the audience link of an open duty room. */
  dutyAudience: (member: number, slot: number) => call<{ link: string }>("GET", `/studios/${member}/duty/${slot}/audience`),
  /** 主持会客: a host link for the studio's own member. */
  dutyHost: (member: number, slot: number) => call<{ link: string }>("POST", `/studios/${member}/duty/${slot}/host`),
};

/** The QR code of a studio's page (an SVG the server draws). */
export const studioQr = (member: number) => `/api/v1/board/studios/${member}/qr.svg`;

export function codeOf(e: unknown): string {
  return e instanceof ApiError ? e.code : "internal";
}
