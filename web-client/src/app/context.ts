// The model reaches components through context: one object, passed down.
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { App } from "./model";
import type { Link } from "./link";

export const AppContext = createContext<{ app: App; link: Link } | undefined>(undefined);

/** The page's model. */
export function useApp(): App {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error("no model: render inside <AppContext.Provider>");
  return ctx.app;
}

/** The join link the page was opened with. */
export function useLink(): Link {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error("no model: render inside <AppContext.Provider>");
  return ctx.link;
}
