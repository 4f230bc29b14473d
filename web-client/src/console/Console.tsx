// The committee office's console: set a password from a one-time link, log in, then the
// meetings (Meetings.tsx), the roster (Roster.tsx), participation reports (Reports.tsx),
// the topic board (Board.tsx), members' studios (StudioOverdue.tsx) and, for admins,
// the staff, the webhooks (Webhooks.tsx) and the API keys (ApiKeys.tsx).
// A call refused because the session expired brings back the login form, saying so.
import { useEffect, useState } from "preact/hooks";
import { lang, setLang } from "../i18n";
import { api, onSessionExpired, type Me, type StaffAccount } from "./api";
import { ApiKeys } from "./ApiKeys";
import { BoardStaff } from "./Board";
import { Audit } from "./Audit";
import { codeOf, CopyBox, Problem } from "./common";
import { Meetings, useRoute } from "./Meetings";
import { Reports } from "./Reports";
import { StudioDesk } from "./StudioDesk";
import { StudioOverdue } from "./StudioOverdue";
import { Roster } from "./Roster";
import { Webhooks } from "./Webhooks";
import { ct } from "./strings";

export function Console() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [notice, setNotice] = useState<string>();
  const [expired, setExpired] = useState(false);
  const setPasswordToken = new URLSearchParams(location.hash.slice(1)).get("set-password");
  useEffect(() => {
    if (setPasswordToken) return setMe(null);
    api.me().then(setMe, () => setMe(null));
  }, []);
  useEffect(
    () =>
      onSessionExpired(() => {
        setNotice(undefined);
        setExpired(true);
        setMe(null);
      }),
    [],
  );
  // High contrast (高对比度): the same choice as the meeting client's (`yishi.contrast`).
  const [contrast, setContrast] = useState(() => localStorage.getItem("yishi.contrast") === "1");
  useEffect(() => {
    document.documentElement.classList.toggle("contrast", contrast);
    localStorage.setItem("yishi.contrast", contrast ? "1" : "0");
  }, [contrast]);
  document.documentElement.lang = lang.value;
  document.title = `${ct("brand")} · ${ct("title")}`;
  return (
    <div class="console">
      <header class="c-top">
        <span class="c-brand">{ct("brand")}</span>
        <h1>{ct("title")}</h1>
        <span class="c-grow" />
        {me ? (
          <span class="c-me" data-testid="me">
            {ct("signedInAs", { name: me.name, role: ct(`role_${me.role}`) })}
          </span>
        ) : null}
        <button type="button" class="c-quiet" aria-pressed={contrast} onClick={() => setContrast(!contrast)} data-testid="c-contrast">
          {ct("highContrast")}
        </button>
        <button type="button" class="c-quiet" onClick={() => setLang(lang.value === "en" ? "zh-CN" : "en")}>
          {ct("language")}
        </button>
        {me ? (
          <button
            type="button"
            class="c-quiet"
            data-testid="logout"
            onClick={async () => {
              await api.logout().catch(() => undefined);
              setMe(null);
            }}
          >
            {ct("logout")}
          </button>
        ) : null}
      </header>
      <main class="c-main">
        {me === undefined ? (
          <p>{ct("loading")}</p>
        ) : setPasswordToken && !me ? (
          <SetPassword
            token={setPasswordToken}
            done={() => {
              history.replaceState(null, "", location.pathname);
              setNotice(ct("passwordSet"));
              location.hash = "";
            }}
          />
        ) : me ? (
          <Home me={me} />
        ) : (
          <Login
            notice={notice}
            expired={expired}
            onLogin={(me) => {
              setExpired(false);
              setMe(me);
            }}
          />
        )}
      </main>
    </div>
  );
}

function SetPassword({ token, done }: { token: string; done: () => void }) {
  const [a, setA] = useState("");
  const [b, setB] = useState("");
  const [problem, setProblem] = useState<string>();
  const [differ, setDiffer] = useState(false);
  return (
    <form
      class="c-card c-narrow"
      data-testid="set-password"
      onSubmit={async (e) => {
        e.preventDefault();
        setDiffer(a !== b);
        if (a !== b) return;
        try {
          await api.setPassword(token, a);
          done();
        } catch (err) {
          setProblem(codeOf(err));
        }
      }}
    >
      <h2>{ct("setPasswordTitle")}</h2>
      <p>{ct("setPasswordHint")}</p>
      <label>
        {ct("newPassword")}
        <input type="password" autocomplete="new-password" minLength={10} maxLength={128} required value={a} onInput={(e) => setA(e.currentTarget.value)} data-testid="new-password" />
      </label>
      <label>
        {ct("repeatPassword")}
        <input type="password" autocomplete="new-password" required value={b} onInput={(e) => setB(e.currentTarget.value)} data-testid="repeat-password" />
      </label>
      {differ ? (
        <p class="problem" role="alert">
          {ct("passwordsDiffer")}
        </p>
      ) : null}
      <Problem code={problem} />
      <button type="submit" class="c-primary" data-testid="save-password">
        {ct("setPassword")}
      </button>
    </form>
  );
}

function Login({ notice, expired, onLogin }: { notice?: string; expired: boolean; onLogin: (me: Me) => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<string>();
  return (
    <form
      class="c-card c-narrow"
      data-testid="login"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          onLogin(await api.login(name, password));
        } catch (err) {
          setProblem(codeOf(err));
        }
      }}
    >
      <h2>{ct("loginTitle")}</h2>
      {expired ? (
        <p class="c-expired" role="alert" data-testid="session-expired">
          {ct("sessionExpired")}
        </p>
      ) : null}
      {notice ? (
        <p class="c-ok" role="status">
          {notice}
        </p>
      ) : null}
      <label>
        {ct("name")}
        <input autocomplete="username" required value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="login-name" />
      </label>
      <label>
        {ct("password")}
        <input type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} data-testid="login-password" />
      </label>
      <Problem code={problem} />
      <button type="submit" class="c-primary" data-testid="login-submit">
        {ct("login")}
      </button>
    </form>
  );
}

function Home({ me }: { me: Me }) {
  const [tab, setTab] = useState<"meetings" | "roster" | "reports" | "staff" | "webhooks" | "apikeys" | "studios" | "board">("meetings");
  const meetingRoute = useRoute();
  // A link to a meeting from another tab (the board's follow-up meeting) opens it here.
  useEffect(() => {
    if (meetingRoute) setTab("meetings");
  }, [meetingRoute?.id]);
  // The print sheet is a page of its own: no tabs above the cards.
  if (meetingRoute?.print) return <Meetings me={me} />;
  const tabs = me.role === "admin" ? (["meetings", "roster", "reports", "board", "studios", "staff", "webhooks", "apikeys"] as const) : (["meetings", "roster", "reports", "board", "studios"] as const);
  return (
    <>
      <nav class="c-tabs" role="tablist">
        {tabs.map((x) => (
          <button key={x} type="button" role="tab" aria-selected={tab === x} class={tab === x ? "on" : ""} onClick={() => {
              setTab(x);
              if (location.hash.startsWith("#meetings/")) location.hash = "";
            }} data-testid={`tab-${x}`}>
            {ct(x)}
          </button>
        ))}
      </nav>
      {tab === "meetings" ? <Meetings me={me} /> : tab === "roster" ? <Roster /> : tab === "reports" ? <Reports /> : tab === "studios" ? (
        <div class="c-studios">
          <StudioDesk />
          <StudioOverdue />
        </div>
      ) : tab === "board" ? <BoardStaff /> : tab === "webhooks" ? <Webhooks /> : tab === "apikeys" ? <ApiKeys /> : <Staff />}
    </>
  );
}

function Staff() {
  const [list, setList] = useState<StaffAccount[]>([]);
  const [problem, setProblem] = useState<string>();
  const [name, setName] = useState("");
  const [role, setRole] = useState<StaffAccount["role"]>("clerk");
  const [link, setLink] = useState<{ name: string; link: string }>();
  const load = () => api.staff().then(setList, (e) => setProblem(codeOf(e)));
  useEffect(() => void load(), []);
  return (
    <>
      <div class="c-columns">
        <section class="c-card c-list" aria-labelledby="staff-h">
          <h2 id="staff-h">{ct("staff")}</h2>
          <ul class="c-rooms" data-testid="staff-list">
            {list.map((s) => (
              <li key={s.name}>
                <div>
                  <strong>{s.name}</strong>
                  <span class="c-muted">
                    {ct(`role_${s.role}`)} · {s.has_password ? ct("hasPassword") : ct("noPassword")}
                    {s.locked ? ` · ${ct("locked")}` : ""}
                  </span>
                </div>
              </li>
            ))}
          </ul>
        </section>
        <form
          class="c-card"
          data-testid="add-staff"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              const added = await api.addStaff(name, role);
              setLink({ name, link: added.link });
              setName("");
              await load();
            } catch (err) {
              setProblem(codeOf(err));
            }
          }}
        >
          <h2>{ct("addStaff")}</h2>
          <label>
            {ct("staffName")}
            <input required maxLength={64} value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="staff-name" />
          </label>
          <fieldset>
            <legend>{ct("role")}</legend>
            {(["clerk", "admin"] as const).map((r) => (
              <label key={r} class="c-choice">
                <input type="radio" name="role" checked={role === r} onChange={() => setRole(r)} />
                {ct(`role_${r}`)}
              </label>
            ))}
          </fieldset>
          <Problem code={problem} />
          <button type="submit" class="c-primary" data-testid="add-staff-submit">
            {ct("add")}
          </button>
          {link ? (
            <CopyBox key={link.link} text={link.link} testid="staff-link">
              {ct("staffLink", { name: link.name })}
            </CopyBox>
          ) : null}
        </form>
      </div>
      <Audit />
    </>
  );
}
