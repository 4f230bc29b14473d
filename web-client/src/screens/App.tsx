// Which screen: the join screen, a meeting view for the viewer's role, the projector,
// the closed meeting, or why the connection ended. Display modes apply to the page.
import { useEffect } from "preact/hooks";
import { useApp, useLink } from "../app/context";
import { lang } from "../i18n";
import { ConfirmDialog } from "../ui/ConfirmDialog";
import { Closed } from "./Closed";
import { Connecting, End, Left } from "./End";
import { Join } from "./Join";
import { Meeting } from "./Meeting";
import { Projector } from "./Projector";

export function App() {
  const app = useApp();
  const link = useLink();
  const large = app.prefs.large.value;
  const contrast = app.prefs.contrast.value;
  const l = lang.value;
  useEffect(() => {
    const root = document.documentElement;
    root.classList.toggle("large", large);
    root.classList.toggle("contrast", contrast);
    root.lang = l;
  }, [large, contrast, l]);
  const s = app.room.value;
  const ended = app.ended.value;
  let body;
  if (app.stage.value === "join" && !link.broken) body = <Join />;
  else if (ended) body = <End cause={ended} />;
  else if (app.stage.value === "left") body = <Left />;
  else if (!s) body = <Connecting />;
  else if (s.room.session === "closed") body = <Closed />;
  else if (link.projector) body = <Projector />;
  else body = <Meeting />;
  return (
    <>
      {body}
      <ConfirmDialog />
    </>
  );
}
