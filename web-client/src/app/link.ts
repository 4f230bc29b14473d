// The join link: `/join#room=…&token=…` (the token sits in the fragment, never sent to
// the server's logs), with `screen=projector` for a venue's hall screen and
// `layout=lecture` for a lecture room (委员讲堂).
import type { Role } from "../protocol/Role";

export interface Claims {
  name?: string;
  role?: Role;
  sub?: string;
  sector?: string;
  venue?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
}

export interface Link {
  room: string;
  token: string;
  projector: boolean;
  lecture: boolean;
  /** What the token says about its holder (the server checks it; this only shows it). */
  claims: Claims;
  /** The token cannot be read at all: the link is broken. */
  broken: boolean;
}

export function parseLink(hash: string): Link {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const token = params.get("token") ?? "";
  const claims = decode(token);
  return {
    room: params.get("room") ?? "",
    token,
    projector: params.get("screen") === "projector",
    lecture: params.get("layout") === "lecture",
    claims: claims ?? {},
    broken: !token || !claims,
  };
}

function decode(jwt: string): Claims | undefined {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims ? (claims as Claims) : undefined;
  } catch {
    return undefined;
  }
}

/** An anonymous audience link (one link for a whole livestream audience). */
export function isAnonymous(c: Claims): boolean {
  return c.role === "audience" && c.sub === "*";
}
