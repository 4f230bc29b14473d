// A text box and its button; the draft stays until the server accepts it, and a
// refusal shows right under it.
import { useState } from "preact/hooks";
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import type { Command } from "../protocol/Command";
import { ErrorNote } from "./ErrorNote";

export function Compose({ label, button, at, send, testid }: { label: Key; button: Key; at: string; send: (text: string) => Command; testid?: string }) {
  const app = useApp();
  const [draft, setDraft] = useState("");
  const closed = app.room.value?.room.session === "closed";
  return (
    <form
      class="compose"
      data-testid={testid}
      onSubmit={async (ev) => {
        ev.preventDefault();
        if (await app.act(send(draft), at)) setDraft("");
      }}
    >
      <label class="grow">
        <span class="sr">{t(label)}</span>
        <input value={draft} maxLength={500} disabled={closed} placeholder={t(label)} onInput={(e) => setDraft((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" disabled={closed || !draft.trim()}>
        {t(button)}
      </button>
      <ErrorNote at={at} />
    </form>
  );
}
