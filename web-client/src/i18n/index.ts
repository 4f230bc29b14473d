// Every string the client shows, in zh-CN (the default) and English, and the texts of
// every error code (the server's English `message` is never shown).
import type { ErrorCode } from "../protocol/ErrorCode";
import { zh, type Key } from "./zh";
import { en } from "./en";
import { lang, type Lang } from "./lang";

export type { Key, Lang };
export { lang, setLang } from "./lang";

const tables: Record<Lang, Record<Key, string>> = { "zh-CN": zh, en };

/** The string for `key` in the current language, with `{name}` replaced from `vars`. */
export function t(key: Key, vars?: Record<string, string | number>): string {
  const text = tables[lang.value][key];
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** The text of an error code, in the current language. */
export function errorText(code: ErrorCode): string {
  return t(`err_${code}` as Key);
}

/** Every error code, so tests can check each has a text in both languages. */
export const ERROR_CODES: ErrorCode[] = [
  "protocol_version", "malformed", "too_large", "hello_expected", "unauthorized", "token_expired", "token_not_yet_valid", "token_revoked",
  "room_not_found", "displaced", "origin_forbidden", "rate_limited", "resume_unavailable", "unavailable", "internal",
  "forbidden", "invalid_state", "room_closed", "not_found", "invalid_argument", "reason_required", "already_waiting",
  "no_floor", "queue_empty", "not_eligible", "already_voted", "invalid_ballot", "already_upvoted", "text_empty",
  "text_too_long", "text_invalid", "media_unavailable", "media_rejected",
];

export function tableFor(l: Lang): Record<Key, string> {
  return tables[l];
}
