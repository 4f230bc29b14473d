// A meeting view: the stage, the control bar (with the host's run bar), the side panel
// (a bottom sheet on a phone), and what comes to the front (the ballot, prompts, the
// host's dialogs). It fits the window; lists scroll inside their panel.
import { useApp, useLink } from "../app/context";
import { ControlBar } from "../floor/ControlBar";
import { HostBar } from "../floor/HostBar";
import { Stage } from "../floor/Stage";
import { MeetingAudio } from "../media/Video";
import { DevicesDialog } from "../media/DevicesDialog";
import { LiveDialog } from "../live/LiveDialog";
import { ModerationDialog } from "../moderation/ModerationDialog";
import { BallotDialog } from "../polls/BallotDialog";
import { PollBuilder } from "../polls/PollBuilder";
import { SettingsDialog } from "../settings/SettingsDialog";
import { Notices } from "../ui/Notices";
import { SidePanel } from "../ui/SidePanel";
import { Toolbar } from "../ui/Toolbar";

export function Meeting() {
  const app = useApp();
  const link = useLink();
  const s = app.room.value!;
  const host = s.view === "host" && s.you.grants.some((g) => g === "manage_floor" || g === "manage_session");
  const dialog = app.dialog.value;
  return (
    <div class={`meeting view-${s.view} ${link.lecture ? "lecture" : ""} ${host ? "with-hostbar" : ""}`} data-testid="meeting">
      <Toolbar />
      <main class="stage-area">
        <Stage />
      </main>
      <SidePanel />
      <footer class="bar-area">
        <Notices />
        {host ? <HostBar /> : null}
        <ControlBar />
      </footer>
      <MeetingAudio stage={s.view === "audience"} />
      <BallotDialog />
      {dialog === "poll_builder" ? <PollBuilder /> : null}
      {dialog === "moderation" ? <ModerationDialog /> : null}
      {dialog === "settings" ? <SettingsDialog /> : null}
      {dialog === "live" ? <LiveDialog /> : null}
      {dialog === "devices" ? <DevicesDialog /> : null}
    </div>
  );
}
