// Members' chat (委员交流): members and hosts only, unmoderated, kept in the record.
import { useEffect, useRef } from "preact/hooks";
import { useApp } from "../app/context";
import { t } from "../i18n";
import { Compose } from "../ui/Compose";

export function ChatPanel() {
  const app = useApp();
  const s = app.room.value!;
  const chat = s.room.chat.slice(-100);
  const end = useRef<HTMLLIElement>(null);
  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [chat.length]);
  return (
    <div class="panel-body chat" data-testid="chat-panel">
      {chat.length === 0 ? <p class="muted">{t("noChat")}</p> : null}
      <ul class="items" aria-live="polite">
        {chat.map((m) => (
          <li key={m.id} class="item">
            <strong>{m.from === s.you.id ? t("byMe") : m.from_name}</strong>
            {t("colon")}
            {m.text}
          </li>
        ))}
        <li ref={end} class="sr" aria-hidden="true" />
      </ul>
      {s.you.grants.includes("chat") ? <Compose label="chatPlaceholder" button="send" at="send_chat" send={(text) => ({ type: "send_chat", text })} /> : null}
    </div>
  );
}
