// Entry: read the join link, make the page's model, render.
import { render } from "preact";
import { AppContext } from "./app/context";
import { parseLink } from "./app/link";
import { AppModel } from "./app/model";
import { App } from "./screens/App";
import "./style.css";

/** A short two-tone chime when the floor is given (no file to load). */
function chime(): void {
  try {
    const ctx = new AudioContext();
    const tone = (freq: number, at: number) => {
      const o = ctx.createOscillator();
      const g = ctx.createGain();
      o.frequency.value = freq;
      g.gain.setValueAtTime(0.001, ctx.currentTime + at);
      g.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + at + 0.02);
      g.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + at + 0.35);
      o.connect(g).connect(ctx.destination);
      o.start(ctx.currentTime + at);
      o.stop(ctx.currentTime + at + 0.4);
    };
    tone(660, 0);
    tone(880, 0.25);
    setTimeout(() => void ctx.close(), 1500);
  } catch {
    // No audio: the prompt on screen says it.
  }
}

const link = parseLink(location.hash);
const app = new AppModel(link, {
  wsUrl: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`,
  storage: globalThis.localStorage,
  session: globalThis.sessionStorage,
  chime,
});
// For the end-to-end tests and debugging.
(window as unknown as { __yishi: unknown }).__yishi = app;
(window as unknown as { __yishiMedia: unknown }).__yishiMedia = app.debug().media;
window.addEventListener("pagehide", () => app.debug().media.leave());

const root = document.getElementById("app");
if (root) {
  // The loading note in index.html goes.
  root.textContent = "";
  render(
    <AppContext.Provider value={{ app, link }}>
      <App />
    </AppContext.Provider>,
    root,
  );
}
