// API keys (API 密钥), for admins: keys for the committee's own systems (履职平台, a
// messaging gateway) to call the admin API, each with the scopes it needs; the secret is
// shown once when a key is made; keys are listed with their last use and revoked here.
// See docs/api.md and docs/console.md.
import { useEffect, useState } from "preact/hooks";
import { keysApi, SCOPES, type ApiKey, type Scope } from "./api";
import { codeOf, CopyBox, localTime, Problem } from "./common";
import { ct, type ConsoleKey } from "./strings";

const SCOPE_TEXT: Record<Scope, ConsoleKey> = {
  "meetings:read": "ak_s_meetings_read",
  "meetings:write": "ak_s_meetings_write",
  "roster:read": "ak_s_roster_read",
  "roster:write": "ak_s_roster_write",
  "reports:read": "ak_s_reports_read",
  "board:read": "ak_s_board_read",
  "board:moderate": "ak_s_board_moderate",
  "webhooks:manage": "ak_s_webhooks_manage",
};

/** Expiry choices, in days (`null`: never). */
const EXPIRY = [null, 30, 90, 365] as const;

const when = (ms: number): string => localTime(ms);

/** A refusal as the tab explains it: a taken name is about keys, not meetings. */
const problemOf = (e: unknown): string => {
  const code = codeOf(e);
  return code === "conflict" ? "key_conflict" : code;
};

export function ApiKeys() {
  const [list, setList] = useState<ApiKey[]>();
  const [problem, setProblem] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const load = () =>
    keysApi.list().then(
      (l) => {
        setList(l);
        setProblem(undefined);
      },
      (e) => setProblem(problemOf(e)),
    );
  useEffect(() => void load(), []);
  return (
    <div class="c-columns" data-testid="apikeys">
      <section class="c-card" aria-labelledby="ak-h">
        <h2 id="ak-h">{ct("apikeys")}</h2>
        <p class="c-muted">{ct("ak_intro")}</p>
        <Problem code={problem} />
        {notice ? (
          <p class="c-done" role="status" data-testid="ak-notice">
            {notice}
          </p>
        ) : null}
        {list && list.length === 0 ? <p data-testid="ak-none">{ct("ak_none")}</p> : null}
        <ul class="c-rooms" data-testid="ak-list">
          {(list ?? []).map((k) => (
            <li key={k.id} data-testid="ak-key" data-name={k.name}>
              <div>
                <strong>
                  {k.name} <span class={`c-badge c-ak-${k.status}`}>{ct(`ak_status_${k.status}`)}</span>
                </strong>
                <span class="c-muted">{k.scopes.map((s) => ct(SCOPE_TEXT[s])).join("；")}</span>
                <span class="c-muted">
                  {ct("ak_createdBy", { name: k.created_by, when: when(k.created_at) })} ·{" "}
                  {k.last_used_at ? ct("ak_lastUsed", { when: when(k.last_used_at) }) : ct("ak_neverUsed")} ·{" "}
                  {k.revoked_at
                    ? ct("ak_revokedAt", { when: when(k.revoked_at) })
                    : k.expires_at
                      ? ct("ak_expiresAt", { when: when(k.expires_at) })
                      : ct("ak_noExpiry")}
                </span>
              </div>
              {k.status === "active" ? (
                <button
                  type="button"
                  onClick={async () => {
                    if (!confirm(ct("ak_revokeConfirm", { name: k.name }))) return;
                    try {
                      await keysApi.revoke(k.id);
                      setNotice(ct("ak_revoked", { name: k.name }));
                      await load();
                    } catch (e) {
                      setProblem(problemOf(e));
                    }
                  }}
                  data-testid="ak-revoke"
                >
                  {ct("ak_revoke")}
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      </section>
      <AddKey added={load} />
    </div>
  );
}

function AddKey({ added }: { added: () => Promise<void> }) {
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Scope[]>([]);
  const [days, setDays] = useState<number | null>(null);
  const [problem, setProblem] = useState<string>();
  const [made, setMade] = useState<{ name: string; secret: string }>();
  return (
    <form
      class="c-card"
      data-testid="ak-add"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const key = await keysApi.create(name.trim(), scopes, days);
          setMade({ name: key.name, secret: key.secret ?? "" });
          setName("");
          setScopes([]);
          setProblem(undefined);
          await added();
        } catch (err) {
          setProblem(problemOf(err));
        }
      }}
    >
      <h2>{ct("ak_add")}</h2>
      <label>
        {ct("ak_name")}
        <input required maxLength={64} placeholder={ct("ak_namePlaceholder")} value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="ak-name" />
      </label>
      <fieldset class="c-stack">
        <legend>{ct("ak_scopes")}</legend>
        {SCOPES.map((s) => (
          <label key={s} class="c-choice">
            <input
              type="checkbox"
              checked={scopes.includes(s)}
              onChange={(e) => setScopes(e.currentTarget.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
              data-testid={`ak-scope-${s}`}
            />
            {ct(SCOPE_TEXT[s])}
          </label>
        ))}
      </fieldset>
      <label>
        {ct("ak_expiry")}
        <select value={String(days)} onChange={(e) => setDays(e.currentTarget.value === "null" ? null : Number(e.currentTarget.value))} data-testid="ak-expiry">
          {EXPIRY.map((d) => (
            <option key={String(d)} value={String(d)}>
              {d === null ? ct("ak_never") : ct("ak_days", { n: d })}
            </option>
          ))}
        </select>
      </label>
      <Problem code={problem} />
      {scopes.length === 0 && !made ? <p class="c-muted">{ct("ak_pickScope")}</p> : null}
      <button type="submit" class="c-primary" disabled={scopes.length === 0} data-testid="ak-add-submit">
        {ct("ak_create")}
      </button>
      {made ? (
        <CopyBox key={made.secret} text={made.secret} testid="ak-secret">
          {ct("ak_created", { name: made.name })}
        </CopyBox>
      ) : null}
    </form>
  );
}
