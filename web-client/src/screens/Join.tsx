// Before joining: who the link is for, a device check for those who publish, then in.
import { useEffect, useRef, useState } from "preact/hooks";
import { useApp, useLink } from "../app/context";
import { isAnonymous } from "../app/link";
import { roleName } from "../app/people";
import { t } from "../i18n";
import { Toolbar } from "../ui/Toolbar";

export function Join() {
  const app = useApp();
  const link = useLink();
  const c = link.claims;
  const anonymous = isAnonymous(c);
  const publishes = !link.projector && c.role !== "audience" && c.role !== "observer";
  const [device, setDevice] = useState<"" | "ok" | "failed">("");
  const [stream, setStream] = useState<MediaStream | undefined>(undefined);
  const video = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (video.current) video.current.srcObject = stream ?? null;
    return () => stream?.getTracks().forEach((tr) => tr.stop());
  }, [stream]);
  const check = async () => {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      setStream(s);
      setDevice("ok");
    } catch {
      setDevice("failed");
    }
  };
  return (
    <div class="page">
      <Toolbar title={t("joinTitle")} />
      <main class="card join">
        <h2>{link.projector ? t("projectorJoin") : anonymous ? t("audienceJoin") : t("thisIsMe")}</h2>
        <p class="speaker" data-testid="join-name">
          {anonymous ? t("role_audience") : c.name}
          {!anonymous ? <span class="muted"> · {roleName(c.role)}</span> : null}
        </p>
        {c.sector || c.venue ? <p class="muted">{[c.sector, c.venue].filter(Boolean).join(" · ")}</p> : null}
        {publishes ? (
          <div class="device-check">
            <button onClick={() => void check()} data-testid="device-check">
              {t("deviceCheck")}
            </button>
            {device ? (
              <p class={device === "ok" ? "ok" : "over-note"} role="status">
                {t(device === "ok" ? "deviceOk" : "deviceFailed")}
              </p>
            ) : null}
            {stream ? <video ref={video} class="local preview" autoplay playsinline muted aria-label={t("myPreview")} /> : null}
          </div>
        ) : null}
        <button
          class="primary big"
          data-testid="enter"
          onClick={() => {
            stream?.getTracks().forEach((tr) => tr.stop());
            setStream(undefined);
            // The click lets the stage play with sound (browsers need a gesture).
            if (c.role === "audience" || link.projector) app.media.setSound(true);
            app.enter();
          }}
        >
          {anonymous ? t("enterLive") : t("enter")}
        </button>
      </main>
    </div>
  );
}
