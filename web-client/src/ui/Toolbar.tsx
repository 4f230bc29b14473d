// The top bar: the meeting's title and state, the connection, and the display modes
// (language, large text, high contrast), each showing whether it is on.
import { useApp } from "../app/context";
import { lang, setLang, t, type Key } from "../i18n";

export function Toolbar({ title }: { title?: string }) {
  const app = useApp();
  const s = app.room.value;
  const status = app.status.value;
  return (
    <header class="topbar">
      <span class="brand" aria-hidden="true">
        {t("appName")}
      </span>
      <h1 class="title">{title ?? s?.room.title ?? t("appName")}</h1>
      {s ? (
        <span class={`state-badge state-${s.room.session}`} data-testid="session-badge">
          {t(`state_${s.room.session}` as Key)}
        </span>
      ) : null}
      {status === "reconnecting" ? (
        <span class="state-badge warn" role="status" data-testid="banner">
          {t("reconnecting")}
        </span>
      ) : null}
      <span class="grow" />
      <div class="modes" role="group" aria-label={t("displayModes")}>
        <button class="mode" lang={lang.value === "zh-CN" ? "en" : "zh-CN"} data-testid="mode-lang" onClick={() => setLang(lang.value === "zh-CN" ? "en" : "zh-CN")}>
          <span class="long">{t("language")}</span>
          <span class="short">{t("languageShort")}</span>
        </button>
        <button class="mode" aria-pressed={app.prefs.large.value} data-testid="mode-large" onClick={() => app.toggleLarge()}>
          <span class="long">{t("largeText")}</span>
          <span class="short">{t("largeShort")}</span>
        </button>
        <button class="mode" aria-pressed={app.prefs.contrast.value} data-testid="mode-contrast" onClick={() => app.toggleContrast()}>
          <span class="long">{t("highContrast")}</span>
          <span class="short">{t("contrastShort")}</span>
        </button>
      </div>
    </header>
  );
}
