// The console's calls to the server's API with the staff session's cookie; changes carry
// the session's CSRF token. Errors come back as their code (never the server's message).

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

export interface StaffAccount {
  name: string;
  role: "admin" | "clerk";
  has_password: boolean;
  locked: boolean;
}

/** A refused call: the API's error code, or `network` when the server was not reached. */
export class ApiError extends Error {
  constructor(readonly code: string, readonly status: number) {
    super(code);
  }
}

let csrf = "";

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      credentials: "same-origin",
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...(method === "GET" ? {} : { "x-csrf-token": csrf }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("network", 0);
  }
  if (!response.ok) {
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
  addStaff: (name: string, role: StaffAccount["role"]) => call<{ link: string }>("POST", "/staff", { name, role }),
};

/** A join link for the room's host, named after the staff member who opens it. */
export const hostLink = async (room: string, name: string): Promise<string> =>
  (await call<{ link: string }>("POST", `/rooms/${encodeURIComponent(room)}/tokens`, { role: "host", name, ttl_s: 12 * 3600 })).link;
