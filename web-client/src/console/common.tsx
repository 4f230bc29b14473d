// What the console's screens share: an API error's code, an error shown next to the
// form that caused it, a secret shown once with a copy button, a dialog that asks for a
// text before an act, and times as the page's language writes them.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
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

/** An error next to the form that caused it, announced to screen readers; `scope` picks
 * a screen's own words for a code (`bd` reads `bd_err_not_found` before `err_not_found`). */
export function Problem({ code, scope }: { code?: string; scope?: string }) {
  return code ? (
    <p class="problem" role="alert" data-testid="problem">
      {errText(code, scope)}
    </p>
  ) : null;
}

/**
 * A modal dialog that asks for a text an act needs (a rejection's reason, a stage's
 * public note) and then does it: a blank text is refused in words, a refused act shows
 * its error inside the dialog, which stays open; `done` closes it after the act.
 */
export function AskText(props: {
  title: string;
  hint?: string;
  label: string;
  ok: string;
  scope?: string;
  act: (text: string) => Promise<unknown>;
  done: () => void;
  cancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => ref.current?.showModal(), []);
  return (
    <dialog
      ref={ref}
      class="c-dialog"
      aria-labelledby="ask-h"
      data-testid="ask"
      onCancel={(e) => {
        e.preventDefault();
        props.cancel();
      }}
    >
      <form
        class="c-form"
        onSubmit={async (e) => {
          e.preventDefault();
          if (!text.trim()) return setProblem("text_empty");
          setBusy(true);
          try {
            await props.act(text.trim());
            props.done();
          } catch (err) {
            setProblem(codeOf(err));
            setBusy(false);
          }
        }}
      >
        <h2 id="ask-h">{props.title}</h2>
        {props.hint ? <p class="c-muted">{props.hint}</p> : null}
        <label>
          {props.label}
          <textarea rows={4} maxLength={2000} aria-required="true" value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="ask-text" />
        </label>
        <Problem code={problem} scope={props.scope} />
        <div class="c-row">
          <button type="submit" class="c-primary" disabled={busy} data-testid="ask-ok">
            {props.ok}
          </button>
          <button type="button" onClick={props.cancel} data-testid="ask-cancel">
            {ct("cancel")}
          </button>
        </div>
      </form>
    </dialog>
  );
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
