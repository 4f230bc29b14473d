// The stage: the floor holder's video or name card, their countdown and who is next;
// before the session opens, the waiting room; in a lecture, the shared screen large with
// the lecturer's camera beside it.
import { useEffect, useState } from "preact/hooks";
import { useApp, useLink } from "../app/context";
import { details, nameOf, speakerName, who, type Who } from "../app/people";
import { t, type Key } from "../i18n";
import { stageTracks, tiles } from "../media/controller";
import { Video } from "../media/Video";
import { LivePlayer } from "../live/LivePlayer";
import { Countdown } from "./Countdown";
import { WaitingRoom } from "./WaitingRoom";

/** A name card: for a floor holder without video, and in the filmstrip. */
export function NameCard({ person, big = false }: { person?: Who; big?: boolean }) {
  const name = person?.name ?? "";
  return (
    <div class={`namecard ${big ? "big" : ""}`} data-testid="namecard">
      <span class="initial" aria-hidden="true">
        {name.slice(0, 1)}
      </span>
      {big ? (
        <>
          <span class="nc-name">{name}</span>
          <span class="nc-details">{details(person)}</span>
        </>
      ) : null}
    </div>
  );
}

/** The streams the stage shows now: the main video, the shared screen. */
function useStageMedia(): { video?: MediaStream; screen?: MediaStream; videoOf?: string; local: boolean } {
  const app = useApp();
  const link = useLink();
  const s = app.room.value!;
  const state = app.media.state.value;
  const remote = app.media.remote.value;
  const me = s.you.id;
  const holder = s.room.floor?.participant ?? state?.stage;
  if (s.view === "audience") {
    const st = stageTracks(state, remote);
    return { video: st.video, screen: st.screen, videoOf: state?.stage, local: false };
  }
  const myScreen = app.media.screen.value;
  if (holder === me || (!holder && myScreen)) {
    return { video: app.media.camOn.value ? app.media.local.value : undefined, screen: myScreen, videoOf: me, local: true };
  }
  const tile = tiles(state, remote).find((x) => x.participant === holder);
  const st = stageTracks(state, remote);
  return { video: tile?.video, screen: link.lecture || st.screen ? st.screen : undefined, videoOf: holder, local: false };
}

export function Stage() {
  const app = useApp();
  const link = useLink();
  const s = app.room.value!;
  const r = s.room;
  const publisher = s.you.grants.includes("publish_media") && !link.projector;
  // The audience watches the livestream, when there is one, instead of WebRTC media;
  // once it has ended the stage says so (and stays off: a large audience must not all
  // fall back on the SFU at once).
  const audience = s.view === "audience";
  const playlist = r.livestream?.playlist;
  const [streamed, setStreamed] = useState<string | undefined>(playlist);
  const watching = audience && !app.prefs.textOnly.value && (playlist !== undefined || streamed !== undefined);
  useEffect(() => {
    if (playlist) setStreamed(playlist);
  }, [playlist]);
  useEffect(() => {
    if (app.prefs.textOnly.value) return;
    if (watching) app.media.standBy();
    else app.media.ensure();
  }, [watching]);
  const waiting = r.session === "scheduled" || r.session === "check_in";
  const { video, screen, videoOf, local } = useStageMedia();
  const floor = r.floor;
  const holder = floor ? who(s, floor.participant) : undefined;
  const onStage = videoOf ? who(s, videoOf) : undefined;
  const next = r.queue.slice(0, 1)[0];
  const hasVideo = !!video && video.getVideoTracks().length > 0;
  const main = watching ? (
    <LivePlayer playlist={playlist ?? streamed} ended={playlist === undefined} />
  ) : screen ? (
    <div class="stage-main with-screen">
      <Video stream={screen} participant={`${videoOf ?? "stage"}-screen`} label={t("sharedScreen", { name: onStage?.name ?? "" })} testid="stage-screen" />
      {hasVideo ? (
        <div class="pip">
          <Video stream={video} participant={s.view === "audience" ? "stage" : videoOf ?? "stage"} label={onStage?.name ?? t("stage")} local={local} />
        </div>
      ) : null}
    </div>
  ) : hasVideo ? (
    <div class="stage-main">
      {onStage ?? holder ? <NameCard person={onStage ?? holder} big={true} /> : null}
      <Video stream={video} participant={s.view === "audience" ? "stage" : videoOf ?? "stage"} label={t("stageOf", { name: onStage?.name ?? "" })} local={local} testid="stage-video" />
    </div>
  ) : (
    <div class="stage-main card-stage">{floor ? <NameCard person={holder} big={true} /> : waiting ? null : <p class="stage-empty">{t(s.view === "audience" ? "stageWaitingAudience" : "nobodySpeaking")}</p>}</div>
  );
  return (
    <section class="stage" aria-label={t("stage")} data-testid="stage">
      {waiting ? <WaitingRoom publisher={publisher} /> : main}
      {r.session === "paused" ? (
        <p class="paused-banner" role="status" data-testid="paused-banner">
          {t("sessionPaused")}
        </p>
      ) : null}
      <div class="stage-info" hidden={waiting}>
        {floor ? (
          <div class="speaker-block">
            <p class="speaker" data-testid="speaker">
              {holder?.name ?? floor.name}
              {floor.participant === s.you.id ? <span class="you-tag">{t("youTag")}</span> : null}
            </p>
            <p class="speaker-details">
              {t(`kind_${floor.kind}` as Key)}
              {details(holder) ? ` · ${details(holder)}` : ""}
            </p>
          </div>
        ) : link.lecture && (onStage || s.view === "audience") && r.session !== "scheduled" && r.session !== "check_in" ? (
          <div class="speaker-block">
            <p class="speaker" data-testid="lecturer">
              {onStage && s.view !== "audience" ? onStage.name : r.title}
            </p>
            <p class="speaker-details">{t("lecturing")}</p>
            <span class="sr" data-testid="no-speaker" />
          </div>
        ) : (
          <div class="speaker-block">
            <p class="speaker muted" data-testid="no-speaker">
              {t("nobodySpeaking")}
            </p>
          </div>
        )}
        {floor ? <Countdown turn={floor} /> : null}
        <p class="next-up" data-testid="next-up">
          {next ? t("nextIs", { name: speakerName(next.speaker, next.name) }) : t("nobodyNext")}
        </p>
      </div>
      {s.view !== "audience" && !link.projector && !waiting ? <Filmstrip exclude={videoOf} /> : null}
    </section>
  );
}

/** The others' small videos (and mine): everyone publishing but who is on the stage. */
function Filmstrip({ exclude }: { exclude?: string }) {
  const app = useApp();
  const s = app.room.value!;
  const state = app.media.state.value;
  const grid = tiles(state, app.media.remote.value).filter((x) => x.participant !== exclude);
  const me = s.you.id;
  const local = app.media.local.value;
  if (grid.length === 0 && (!local || exclude === me)) return null;
  return (
    <ul class="filmstrip" aria-label={t("participantsVideo")}>
      {grid.map((x) => (
        <Tile key={x.participant} id={x.participant} video={x.video} />
      ))}
      {local && exclude !== me ? <Tile id={me} video={app.media.camOn.value ? local : undefined} local={true} /> : null}
    </ul>
  );
}

function Tile({ id, video, local = false }: { id: string; video?: MediaStream; local?: boolean }) {
  const app = useApp();
  const s = app.room.value;
  const state = app.media.state.value;
  const heard = state?.heard.includes(id) ?? false;
  const speaking = state?.speaking.includes(id) ?? false;
  const name = local ? `${nameOf(s, id)}${t("youTag")}` : nameOf(s, id);
  const has = !!video && video.getVideoTracks().length > 0;
  return (
    <li class={`tile ${speaking ? "speaking" : ""}`} data-testid="tile" data-participant={id} data-heard={heard ? "true" : "false"} data-speaking={speaking ? "true" : "false"}>
      {has ? <Video stream={video} participant={id} label={name} local={local} fit="cover" /> : <NameCard person={who(s, id)} />}
      <span class="tile-name">
        {name}
        <span class={`tag ${heard ? "live" : ""}`} data-testid="heard-badge">
          {heard ? t("heardShort") : t("notHeardShort")}
        </span>
      </span>
    </li>
  );
}
