// Webhooks (消息推送), for admins: the addresses the committee's own platform (履职平台,
// an SMS or WeChat gateway) receives signed notices at, the secret shown once when one
// is added, "send test", and each address's delivery log. See docs/webhooks.md.
import { useEffect, useRef, useState } from "preact/hooks";
import { lang } from "../i18n";
import { webhooksApi, type Delivery, type Webhook } from "./api";
import { codeOf, CopyBox, Problem } from "./common";
import { ct, type ConsoleKey } from "./strings";

/** The event types an address can receive, in the order the form lists them. */
const TYPES = [
  "meeting.opened",
  "meeting.closed",
  "minutes.ready",
  "member.checked_in",
  "participation.updated",
  "board.published",
  "board.merged",
  "board.stage_advanced",
  "board.official_answer",
  "board.opinion",
  "board.outcome_created",
  "board.progress",
  "board.reviewed",
  "board.message_published",
  "board.replied",
  "board.report_filed",
  "board.duty_scheduled",
] as const;

const TYPE_TEXT: Record<string, ConsoleKey> = {
  "meeting.opened": "wh_t_meeting_opened",
  "meeting.closed": "wh_t_meeting_closed",
  "minutes.ready": "wh_t_minutes_ready",
  "member.checked_in": "wh_t_member_checked_in",
  "participation.updated": "wh_t_participation_updated",
  "board.published": "wh_t_board_published",
  "board.merged": "wh_t_board_merged",
  "board.stage_advanced": "wh_t_board_stage_advanced",
  "board.official_answer": "wh_t_board_official_answer",
  "board.opinion": "wh_t_board_opinion",
  "board.outcome_created": "wh_t_board_outcome_created",
  "board.progress": "wh_t_board_progress",
  "board.reviewed": "wh_t_board_reviewed",
  "board.message_published": "wh_t_board_message_published",
  "board.replied": "wh_t_board_replied",
  "board.report_filed": "wh_t_board_report_filed",
  "board.duty_scheduled": "wh_t_board_duty_scheduled",
  "webhook.test": "wh_t_webhook_test",
};

/** An event type in words (a type this console does not know yet, as it is). */
const typeText = (type: string): string => (type in TYPE_TEXT ? ct(TYPE_TEXT[type]) : type);

const when = (ms: number): string =>
  new Date(ms).toLocaleString(lang.value === "en" ? "en-GB" : "zh-CN", { dateStyle: "short", timeStyle: "medium" });

export function Webhooks() {
  const [list, setList] = useState<Webhook[]>();
  const [problem, setProblem] = useState<string>();
  const [shown, setShown] = useState<{ webhook: Webhook; focus: boolean }>();
  const [notice, setNotice] = useState<string>();
  const load = () =>
    webhooksApi.list().then(
      (l) => {
        setList(l);
        setProblem(undefined);
      },
      (e) => setProblem(codeOf(e)),
    );
  useEffect(() => void load(), []);
  return (
    <div class="c-columns" data-testid="webhooks">
      <div class="c-page">
        <section class="c-card" aria-labelledby="wh-h">
          <h2 id="wh-h">{ct("webhooks")}</h2>
          <p class="c-muted">{ct("wh_intro")}</p>
          <Problem code={problem} />
          {notice ? (
            <p class="c-done" role="status" data-testid="wh-notice">
              {notice}
            </p>
          ) : null}
          {list && list.length === 0 ? <p data-testid="wh-none">{ct("wh_none")}</p> : null}
          <ul class="c-rooms" data-testid="wh-list">
            {(list ?? []).map((w) => (
              <li key={w.id}>
                <div>
                  <strong class="c-code">{w.url}</strong>
                  <span class="c-muted">{w.types.map(typeText).join("、")}</span>
                  <span class="c-muted c-small">{ct("wh_createdBy", { name: w.created_by, when: when(w.created_at) })}</span>
                </div>
                <span class="c-row">
                  <button
                    type="button"
                    aria-pressed={shown?.webhook.id === w.id}
                    onClick={() => setShown(shown?.webhook.id === w.id ? undefined : { webhook: w, focus: true })}
                    data-testid="wh-show-log"
                  >
                    {ct("wh_log")}
                  </button>
                  <button
                    type="button"
                    onClick={async () => {
                      try {
                        await webhooksApi.test(w.id);
                        setNotice(ct("wh_testSent"));
                        if (shown?.webhook.id !== w.id) setShown({ webhook: w, focus: false });
                      } catch (e) {
                        setProblem(codeOf(e));
                      }
                    }}
                    data-testid="wh-test"
                  >
                    {ct("wh_test")}
                  </button>
                  <button
                    type="button"
                    onClick={async () => {
                      if (!confirm(ct("wh_deleteConfirm", { url: w.url }))) return;
                      try {
                        await webhooksApi.remove(w.id);
                        if (shown?.webhook.id === w.id) setShown(undefined);
                        setNotice(ct("wh_deleted"));
                        await load();
                      } catch (e) {
                        setProblem(codeOf(e));
                      }
                    }}
                    data-testid="wh-delete"
                  >
                    {ct("wh_delete")}
                  </button>
                </span>
              </li>
            ))}
          </ul>
        </section>
        {shown ? <DeliveryLog webhook={shown.webhook} focus={shown.focus} /> : null}
      </div>
      <AddWebhook added={load} />
    </div>
  );
}

function AddWebhook({ added }: { added: () => Promise<void> }) {
  const [url, setUrl] = useState("");
  const [types, setTypes] = useState<string[]>([...TYPES]);
  const [problem, setProblem] = useState<string>();
  const [secret, setSecret] = useState<{ url: string; secret: string }>();
  return (
    <form
      class="c-card"
      data-testid="wh-add"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const made = await webhooksApi.create(url.trim(), types);
          setSecret({ url: made.url, secret: made.secret ?? "" });
          setUrl("");
          setProblem(undefined);
          await added();
        } catch (err) {
          setProblem(codeOf(err));
        }
      }}
    >
      <h2>{ct("wh_add")}</h2>
      <label>
        {ct("wh_url")}
        <input type="url" required maxLength={2000} placeholder="https://" value={url} onInput={(e) => setUrl(e.currentTarget.value)} data-testid="wh-url" />
      </label>
      <fieldset class="c-stack">
        <legend>{ct("wh_types")}</legend>
        {TYPES.map((t) => (
          <label key={t} class="c-choice">
            <input
              type="checkbox"
              checked={types.includes(t)}
              onChange={(e) => setTypes(e.currentTarget.checked ? [...types, t] : types.filter((x) => x !== t))}
            />
            {typeText(t)}
          </label>
        ))}
      </fieldset>
      <Problem code={problem} />
      <button type="submit" class="c-primary" disabled={types.length === 0} data-testid="wh-add-submit">
        {ct("add")}
      </button>
      {secret ? (
        <CopyBox key={secret.secret} text={secret.secret} testid="wh-secret">
          {ct("wh_created", { url: secret.url })}
        </CopyBox>
      ) : null}
    </form>
  );
}

/** The delivery log of one address, refreshed every 3 s while it is open; `focus`
 * moves the keyboard to it (when opened by its button). */
function DeliveryLog({ webhook, focus }: { webhook: Webhook; focus: boolean }) {
  const [log, setLog] = useState<Delivery[]>();
  const [problem, setProblem] = useState<string>();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      webhooksApi.deliveries(webhook.id).then(
        (l) => live && (setLog(l), setProblem(undefined)),
        (e) => live && setProblem(codeOf(e)),
      );
    void load();
    if (focus) heading.current?.focus();
    const timer = setInterval(load, 3000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [webhook.id]);
  return (
    <section class="c-card" aria-labelledby="wh-log-h" data-testid="wh-log">
      <h2 id="wh-log-h" tabIndex={-1} ref={heading}>
        {ct("wh_logOf", { url: webhook.url })}
      </h2>
      <Problem code={problem} />
      {log && log.length === 0 ? <p>{ct("wh_logEmpty")}</p> : null}
      {log && log.length > 0 ? (
        <div class="c-scroll">
          <table class="c-table">
            <thead>
              <tr>
                <th scope="col">{ct("wh_col_time")}</th>
                <th scope="col">{ct("wh_col_type")}</th>
                <th scope="col">{ct("wh_col_status")}</th>
                <th scope="col">{ct("wh_col_attempts")}</th>
                <th scope="col">{ct("wh_col_answer")}</th>
              </tr>
            </thead>
            <tbody>
              {log.map((d) => (
                <tr key={d.id} data-testid="wh-delivery">
                  <td data-label={ct("wh_col_time")}>{when(d.updated_at)}</td>
                  <td data-label={ct("wh_col_type")}>{typeText(d.type)}</td>
                  <td data-label={ct("wh_col_status")}>
                    <span class={`c-badge c-wh-${d.status}`}>{ct(`wh_status_${d.status}` as ConsoleKey)}</span>
                    {d.status === "pending" && d.attempts > 0 ? (
                      <span class="c-muted c-small">{ct("wh_retryAt", { when: when(d.next_attempt_at) })}</span>
                    ) : null}
                  </td>
                  <td data-label={ct("wh_col_attempts")}>{d.attempts}</td>
                  <td data-label={ct("wh_col_answer")} class="c-note">
                    {d.last_status ? `HTTP ${d.last_status}` : ""}
                    {d.last_error ? <span class="c-note-bad"> {d.last_error}</span> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
