// The language choice (`yishi.lang`) the meeting client, the console and the board share,
// apart from their string tables so that each page loads only its own.
import { signal } from "@preact/signals";

export type Lang = "zh-CN" | "en";

export const lang = signal<Lang>(globalThis.localStorage?.getItem("yishi.lang") === "en" ? "en" : "zh-CN");

export function setLang(next: Lang): void {
  lang.value = next;
  globalThis.localStorage?.setItem("yishi.lang", next);
  if (typeof document !== "undefined") document.documentElement.lang = next;
}

/** A time (ms since the epoch) as China's offices write it. */
export function when(ms: number): string {
  return new Intl.DateTimeFormat(lang.value, { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Shanghai" }).format(ms);
}
