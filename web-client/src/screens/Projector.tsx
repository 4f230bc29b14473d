// The venue projector (大屏): full screen, no controls but a fullscreen button, readable
// across a hall: the speaker's video large, the name on one line (shrunk to fit), the
// countdown large, the next three, and the latest result as a bar chart.
import { useEffect, useState } from "preact/hooks";
import { useApp } from "../app/context";
import { details, speakerName, who } from "../app/people";
import { t, type Key } from "../i18n";
import { stageTracks, tiles } from "../media/controller";
import { MeetingAudio, SoundButton, Video } from "../media/Video";
import { Countdown } from "../floor/Countdown";
import { NameCard } from "../floor/Stage";
import { Results } from "../polls/Results";
import { FitText } from "../ui/FitText";

export function Projector() {
  const app = useApp();
  const s = app.room.value!;
  const r = s.room;
  useEffect(() => app.media.ensure(), []);
  const [full, setFull] = useState(false);
  useEffect(() => {
    const on = () => setFull(!!document.fullscreenElement);
    document.addEventListener("fullscreenchange", on);
    return () => document.removeEventListener("fullscreenchange", on);
  }, []);
  const state = app.media.state.value;
  const remote = app.media.remote.value;
  const floor = r.floor;
  const holder = floor?.participant ?? state?.stage;
  const tile = tiles(state, remote).find((x) => x.participant === holder);
  const screen = stageTracks(state, remote).screen;
  const person = who(s, holder);
  const video = tile?.video && tile.video.getVideoTracks().length ? tile.video : undefined;
  const latest = [...r.polls].reverse().find((p) => p.results && p.state !== "draft");
  const live = r.session === "in_session" || r.session === "paused";
  return (
    <div class="projector" data-testid="projector">
      <div class="pj-stage" data-testid="projector-stage">
        {screen ? (
          <Video stream={screen} participant="stage-screen" label={t("sharedScreen", { name: person?.name ?? "" })} />
        ) : video && live ? (
          <>
            {person ? <NameCard person={person} big={true} /> : null}
            <Video stream={video} participant="stage" label={t("stageOf", { name: person?.name ?? "" })} />
          </>
        ) : floor ? (
          <NameCard person={person} big={true} />
        ) : (
          <div class="pj-idle">
            <p class="pj-title">{r.title}</p>
            <p class="pj-state">{t(`state_${r.session}` as Key)}</p>
          </div>
        )}
        {r.session === "paused" ? <p class="paused-banner">{t("sessionPaused")}</p> : null}
      </div>
      <div class="pj-side">
        {floor ? (
          <>
            <FitText class="pj-name" max={72} min={24} testid="speaker">
              {person?.name ?? floor.name}
            </FitText>
            <p class="pj-details">{[t(`kind_${floor.kind}` as Key), details(person)].filter(Boolean).join(" · ")}</p>
            <Countdown turn={floor} class="pj-timer" />
          </>
        ) : (
          <FitText class="pj-name muted" max={56} min={24} testid="speaker">
            {live ? t("nobodySpeaking") : r.title}
          </FitText>
        )}
        <h2 class="pj-h">{t("nextUp")}</h2>
        <ol class="pj-next" data-testid="queue">
          {r.queue.slice(0, 3).map((e) => (
            <li key={e.id}>
              <span class="pj-next-name">{speakerName(e.speaker, e.name)}</span>
              <span class="pj-next-kind">{t(`kind_${e.kind}` as Key)}</span>
            </li>
          ))}
          {r.queue.length === 0 ? <li class="muted">{t("nobodyNext")}</li> : null}
        </ol>
        {latest ? (
          <section class="pj-result" aria-label={t("latestResult")}>
            <h2 class="pj-h">{latest.spec.question}</h2>
            <Results poll={latest} />
          </section>
        ) : null}
      </div>
      <div class="pj-buttons">
        <SoundButton />
        <button
          class="pj-fullscreen"
          data-testid="fullscreen"
          aria-pressed={full}
          onClick={() => (document.fullscreenElement ? void document.exitFullscreen() : void document.documentElement.requestFullscreen?.())}
        >
          {full ? t("exitFullscreen") : t("fullscreen")}
        </button>
      </div>
      <MeetingAudio stage={false} />
    </div>
  );
}
