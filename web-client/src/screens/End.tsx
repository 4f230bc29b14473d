// When the connection ends for good: each cause its own screen and next step (an
// expired link, an invalid one, a room that does not exist or is closed, a token not yet
// valid, another device, a server out of reach), never an endless "connecting".
import { useApp } from "../app/context";
import type { EndCause } from "../app/conn";
import { t, type Key } from "../i18n";
import { Toolbar } from "../ui/Toolbar";

interface Screen {
  title: Key;
  text: Key;
  action?: "retry" | "reload" | "here";
}

function screenFor(cause: EndCause): Screen {
  switch (cause) {
    case "token_expired":
      return { title: "endExpiredTitle", text: "endExpiredText" };
    case "token_revoked":
      return { title: "endRevokedTitle", text: "endRevokedText" };
    case "token_not_yet_valid":
      return { title: "endNotYetTitle", text: "endNotYetText", action: "retry" };
    case "room_not_found":
      return { title: "endNotFoundTitle", text: "endNotFoundText" };
    case "room_closed":
      return { title: "endClosedTitle", text: "endClosedText" };
    case "displaced":
      return { title: "endDisplacedTitle", text: "endDisplacedText", action: "here" };
    case "protocol_version":
    case "hello_expected":
    case "malformed":
      return { title: "endOutdatedTitle", text: "endOutdatedText", action: "reload" };
    case "origin_forbidden":
      return { title: "endOriginTitle", text: "endOriginText" };
    case "unreachable":
      return { title: "endUnreachableTitle", text: "endUnreachableText", action: "retry" };
    case "rate_limited":
    case "unavailable":
    case "internal":
      return { title: "endBusyTitle", text: "endBusyText", action: "retry" };
    case "unauthorized":
    default:
      return { title: "endInvalidTitle", text: "endInvalidText" };
  }
}

export function End({ cause }: { cause: EndCause }) {
  const app = useApp();
  const s = screenFor(cause);
  return (
    <div class="page">
      <Toolbar title={t(s.title)} />
      <main class="card end" data-testid="end-screen" data-cause={cause}>
        <h2 role="alert">{t(s.title)}</h2>
        <p class="end-text">{t(s.text)}</p>
        {s.action === "retry" ? (
          <button class="primary big" data-testid="retry" onClick={() => app.retry()}>
            {t("retry")}
          </button>
        ) : null}
        {s.action === "here" ? (
          <button class="primary big" data-testid="continue-here" onClick={() => app.retry()}>
            {t("continueHere")}
          </button>
        ) : null}
        {s.action === "reload" ? (
          <button class="primary big" onClick={() => location.reload()}>
            {t("reload")}
          </button>
        ) : null}
      </main>
    </div>
  );
}

export function Left() {
  const app = useApp();
  return (
    <div class="page">
      <Toolbar />
      <main class="card end" data-testid="left-screen">
        <h2>{t("leftTitle")}</h2>
        <p class="end-text">{t("leftText")}</p>
        <button class="primary big" onClick={() => app.retry()}>
          {t("rejoin")}
        </button>
      </main>
    </div>
  );
}

export function Connecting() {
  return (
    <div class="page">
      <Toolbar />
      <main class="card end" data-testid="connecting" aria-busy="true">
        <h2 role="status">{t("connecting")}</h2>
        <p class="muted">{t("connectingNote")}</p>
      </main>
    </div>
  );
}
