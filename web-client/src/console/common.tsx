// What the console's screens share: an API error's code, an error shown next to the
// form that caused it, a secret shown once with a copy button, and times as the page's
// language writes them.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { lang } from "../i18n";
import { ApiError } from "./api";
import { ct, errText } from "./strings";

/** Epoch milliseconds in the page's language (date and time, short, by default). */
export function localTime(ms: number, opts: Intl.DateTimeFormatOptions = { dateStyle: "short", timeStyle: "short" }): string {
  return new Date(ms).toLocaleString(lang.value === "en" ? "en-GB" : "zh-CN", opts);
}

export function codeOf(e: unknown): string {
  return e instanceof ApiError ? e.code : "internal";
}

/** An error next to the form that caused it, announced to screen readers. */
export function Problem({ code }: { code?: string }) {
  return code ? (
    <p class="problem" role="alert" data-testid="problem">
      {errText(code)}
    </p>
  ) : null;
}

/** Something to hand on (a one-time link, a signing secret), said by `children`, with a
 * copy button that says when it copied. */
export function CopyBox({ text, testid, children }: { text: string; testid: string; children: ComponentChildren }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="c-ok" role="status" data-testid={testid}>
      <p>{children}</p>
      <code>{text}</code>
      <button
        type="button"
        onClick={() =>
          navigator.clipboard?.writeText(text).then(
            () => setCopied(true),
            () => undefined,
          )
        }
      >
        {copied ? ct("copied") : ct("copy")}
      </button>
    </div>
  );
}
