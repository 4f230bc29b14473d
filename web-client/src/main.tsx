// Entry: read the join link (the token sits in the URL fragment, never sent to the
// server's logs), connect, and show the screen for the caller's view.
import { render } from "preact";
import { useEffect } from "preact/hooks";
import { lang, setLang, t, type Key } from "./i18n";
import { AudienceScreen, HostScreen, MemberScreen, ProjectorScreen } from "./screens";
import { announcement, connect, lastError, media, room, status } from "./store";
import { effect, signal } from "@preact/signals";

const params = new URLSearchParams(location.hash.slice(1));
const token = params.get("token") ?? "";
const screen = params.get("screen");
// The projector shows the stage; it never captures the hall's camera or microphone.
if (screen === "projector") media.watch();
const large = signal(localStorage.getItem("yishi.large") === "1");
const contrast = signal(localStorage.getItem("yishi.contrast") === "1");

effect(() => {
  document.documentElement.classList.toggle("large", large.value);
  document.documentElement.classList.toggle("contrast", contrast.value);
  document.documentElement.lang = lang.value;
});

// Tell screen readers when the floor moves or time runs short.
let lastTurn: number | undefined;
let lastWarned = false;
effect(() => {
  const floor = room.value?.room.floor;
  if (floor?.id !== lastTurn) {
    lastTurn = floor?.id;
    lastWarned = false;
    announcement.value = floor ? `${t("speaking")}：${floor.speaker ?? floor.name}` : t("nobodySpeaking");
  } else if (floor?.warned && !lastWarned) {
    lastWarned = true;
    announcement.value = t("warning");
  }
});

function Toolbar() {
  return (
    <header class="toolbar">
      <h1>{t("appName")}</h1>
      <span class="title">{room.value?.room.title}</span>
      <span class="grow" />
      <button class="small" onClick={() => setLang(lang.value === "zh-CN" ? "en" : "zh-CN")}>{t("language")}</button>
      <button class="small" aria-pressed={large.value} onClick={() => { large.value = !large.value; localStorage.setItem("yishi.large", large.value ? "1" : "0"); }}>
        {t("largeText")}
      </button>
      <button class="small" aria-pressed={contrast.value} onClick={() => { contrast.value = !contrast.value; localStorage.setItem("yishi.contrast", contrast.value ? "1" : "0"); }}>
        {t("highContrast")}
      </button>
    </header>
  );
}

function Banner() {
  const s = status.value;
  if (s === "open" && !lastError.value) return null;
  const text = s === "connecting" ? t("connecting") : s === "reconnecting" ? t("reconnecting") : s === "closed" ? t("joinMissing") : `${t("error")}：${lastError.value}`;
  return (
    <div class={`banner ${s}`} role="status" data-testid="banner">
      {text}
    </div>
  );
}

/** What the link says about its holder (the server checks the signature; this only shows it). */
function claims(jwt: string): { name?: string; role?: string } {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

const entered = signal(sessionStorage.getItem(`yishi.entered.${token.slice(-16)}`) === "1");
const device = signal<"" | "ok" | "failed">("");

async function checkDevices() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    stream.getTracks().forEach((tr) => tr.stop());
    device.value = "ok";
  } catch {
    device.value = "failed";
  }
}

/** Before joining: who the link is for, a device check, then in. */
function Join() {
  const c = claims(token);
  const anonymous = c.role === "audience" && (c as { sub?: string }).sub === "*";
  return (
    <main class="card join">
      <h2>{t("joinTitle")}</h2>
      <p>{t("thisIsMe")}</p>
      <p class="speaker" data-testid="join-name">
        {anonymous ? t("role_audience") : c.name} · {t(`role_${c.role ?? "member"}` as Key)}
      </p>
      {c.role !== "audience" ? (
        <p class="row">
          <button onClick={() => void checkDevices()}>{t("deviceCheck")}</button>
          {device.value ? <span class={device.value === "ok" ? "ok" : "over-note"} role="status">{t(device.value === "ok" ? "deviceOk" : "deviceFailed")}</span> : null}
        </p>
      ) : null}
      <button
        class="primary"
        onClick={() => {
          sessionStorage.setItem(`yishi.entered.${token.slice(-16)}`, "1");
          entered.value = true;
        }}
      >
        {t("enter")}
      </button>
    </main>
  );
}

function App() {
  const go = token && entered.value;
  useEffect(() => {
    if (go) connect(token, `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  }, [go]);
  const state = room.value;
  let body;
  if (!token) body = <main class="card"><h2>{t("joinTitle")}</h2><p>{t("joinMissing")}</p></main>;
  else if (!entered.value) body = <Join />;
  else if (!state) body = <main class="card"><p>{t("connecting")}</p></main>;
  else if (screen === "projector") body = <ProjectorScreen />;
  else if (state.view === "host") body = <HostScreen />;
  else if (state.view === "audience") body = <AudienceScreen />;
  else body = <MemberScreen />;
  return (
    <>
      <Toolbar />
      <Banner />
      <div class="sr" aria-live="assertive" data-testid="announce">{announcement.value}</div>
      {body}
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
