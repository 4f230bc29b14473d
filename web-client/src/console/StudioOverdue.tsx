// Members' studios (委员工作室) in the console: the messages published and not replied to
// by their deadline, the longest overdue first (docs/board.md). A day picker shows what
// will be overdue by the end of that day; the studio's public page opens in a new tab.
import { useEffect, useState } from "preact/hooks";
import { api, type OverdueMessage } from "./api";
import { codeOf, Problem } from "./common";
import { ct } from "./strings";

const DAY_MS = 86_400_000;

const when = (ms: number): string =>
  new Date(ms).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });

export function StudioOverdue() {
  const [day, setDay] = useState("");
  const [list, setList] = useState<{ at: number; messages: OverdueMessage[] } | null>(null);
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    api.overdue(day || undefined).then(
      (l) => {
        setList(l);
        setProblem(undefined);
      },
      (e) => setProblem(codeOf(e)),
    );
  }, [day]);
  return (
    <section class="c-card" aria-labelledby="so-h" data-testid="studio-overdue">
      <h2 id="so-h">{ct("so_title")}</h2>
      <p class="c-muted">{ct("so_hint")}</p>
      <div class="c-row">
        <label>
          {ct("so_day")}
          <input type="date" value={day} onInput={(e) => setDay(e.currentTarget.value)} data-testid="overdue-day" />
        </label>
        {day ? (
          <button type="button" class="c-button" onClick={() => setDay("")}>
            {ct("so_now")}
          </button>
        ) : null}
      </div>
      <Problem code={problem} />
      {list === null ? null : list.messages.length === 0 ? (
        <p data-testid="overdue-none">{ct("so_none")}</p>
      ) : (
        <>
          <p role="status">
            <strong data-testid="overdue-count">{ct("so_count", { n: list.messages.length })}</strong>
          </p>
          <ul class="c-overdue" data-testid="overdue-list">
            {list.messages.map((m) => (
              <li key={m.id} data-testid={`overdue-${m.id}`}>
                <p>
                  <strong>{m.title ?? m.text.slice(0, 30)}</strong>
                </p>
                <p>
                  {ct("so_to", { name: m.studio_name })}　{ct("so_from", { name: m.sender_name })}
                </p>
                {m.due !== null ? (
                  <p class="c-late">
                    {ct("so_due", { when: when(m.due) })}　{ct("so_late", { days: Math.max(1, Math.floor((list.at - m.due) / DAY_MS)) })}
                  </p>
                ) : null}
                <a class="c-button" href={`/board#/studio/${m.member}`} target="_blank" rel="noopener">
                  {ct("so_open")}
                </a>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
