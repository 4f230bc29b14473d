// The board's API (docs/board.md) as a resident's page calls it: the identity is the
// `yishi_resident` cookie the server sets (HttpOnly, so the page learns whether it has
// one by asking for the feed). Errors come back as their code, never the server's text.

export type Stage = "collecting" | "selecting" | "consulted" | "handling" | "done";
export const STAGES: Stage[] = ["collecting", "selecting", "consulted", "handling", "done"];
export type Stance = "for" | "against" | "suggestion";
export type NoticeKind =
  | "published" | "rejected" | "merged" | "stage_advanced" | "official_answer" | "opinion" | "outcome_created" | "progress" | "reviewed";

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
  kind: NoticeKind;
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

export interface TopicPage extends Omit<TopicSummary, "comments"> {
  text: string;
  followers: number;
  merged_into: number | null;
  meeting: string | null;
  opinion: string | null;
  timeline: TimelineEntry[];
  comments: PublicComment[];
  outcomes: OutcomeView[];
  me?: { supports: boolean; follows: boolean };
}

export interface Notice {
  seq: number;
  at: number;
  topic: number;
  topic_title: string;
  kind: NoticeKind;
  text: string;
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
  | { type: "post_comment"; topic: number; text: string; stance?: Stance };

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
};

export function codeOf(e: unknown): string {
  return e instanceof ApiError ? e.code : "internal";
}
