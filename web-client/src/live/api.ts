// The livestream's HTTP routes as a host calls them, with the host's own join token as
// the bearer (see docs/livestream.md): start, stop, RTMP push targets and their status,
// and a recording's download.
import type { Recording } from "../protocol/Recording";

export type PushState = "connecting" | "live" | "retrying" | "ended";

export interface PushTarget {
  url: string;
  state: PushState;
  since: number;
  error?: string;
  attempts: number;
}

/** At most this many push targets (the server's limit). */
export const MAX_TARGETS = 8;

/** A refusal, by the server's error code (`not_live`, `invalid_argument`, …) or `network`. */
export class LiveError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/** The targets typed into the field: one a line, blank lines and spaces around dropped. */
export function parseTargets(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** Whether a line may be a target (the server checks again): rtmp:// or rtmps://, no spaces. */
export function validTarget(url: string): boolean {
  return /^rtmps?:\/\/\S+$/.test(url);
}

export class LiveApi {
  constructor(
    private room: string,
    private token: string,
    private fetchFn: typeof fetch = (...a) => fetch(...a),
  ) {}

  private url(path = ""): string {
    return `/live/${encodeURIComponent(this.room)}${path}`;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path), {
        method,
        headers: { Authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new LiveError("network");
    }
    if (!res.ok) {
      const err = (await res.json().catch(() => undefined)) as { code?: string } | undefined;
      throw new LiveError(err?.code ?? (res.status === 401 ? "unauthorized" : res.status === 403 ? "forbidden" : "internal"));
    }
    return (await res.json()) as T;
  }

  start(): Promise<{ live: boolean; playlist: string }> {
    return this.call("POST", "");
  }

  stop(): Promise<{ live: boolean; was_live: boolean; recording?: Recording | null }> {
    return this.call("DELETE", "");
  }

  async setTargets(targets: string[]): Promise<PushTarget[]> {
    return (await this.call<{ targets: PushTarget[] }>("PUT", "/push", { targets })).targets;
  }

  async targets(): Promise<PushTarget[]> {
    return (await this.call<{ targets: PushTarget[] }>("GET", "/push")).targets;
  }

  /** A recording's bytes (the route needs the bearer, so no plain link). */
  async recording(file: string): Promise<Blob> {
    let res: Response;
    try {
      res = await this.fetchFn(this.url(`/recordings/${encodeURIComponent(file)}`), { headers: { Authorization: `Bearer ${this.token}` } });
    } catch {
      throw new LiveError("network");
    }
    if (!res.ok) throw new LiveError(res.status === 404 ? "not_found" : res.status === 403 ? "forbidden" : "internal");
    return await res.blob();
  }
}

/** A size in words: "1.4 MB". */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 / 1024 / 1024).toFixed(2)} GB`;
}
