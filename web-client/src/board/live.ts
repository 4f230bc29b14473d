// Live updates of the board's pages (`GET /api/v1/board/live`, see docs/board.md): one
// WebSocket for the page, opened while some screen listens, reopened after a growing
// pause when it drops (and then every screen reads again, for what it missed). Each
// message names the published topics and studios whose pages changed and says whether
// the reader's own notices did; the server sends at most one a second.

import { signal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";

export interface BoardChange {
  topics: number[];
  studios: number[];
  notices: boolean;
  all: boolean;
}

type Listener = (change: BoardChange) => void;

const listeners = new Set<Listener>();
let socket: WebSocket | undefined;
let failures = 0;
let missed = false;

/** New notices arrived since the reader last opened 我的消息. */
export const unread = signal(false);

function tell(change: BoardChange) {
  if (change.notices) unread.value = true;
  for (const listener of listeners) listener(change);
}

function open() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/board/live`);
  socket = ws;
  ws.onopen = () => {
    failures = 0;
    // Reopened after a drop: what changed meanwhile was not said.
    if (missed) tell({ topics: [], studios: [], notices: false, all: true });
    missed = false;
  };
  ws.onmessage = (e) => {
    try {
      tell(JSON.parse(String(e.data)) as BoardChange);
    } catch {
      // Not ours to read: ignored.
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = undefined;
    missed = true;
    const pause = Math.min(30_000, 1_000 * 2 ** failures++);
    setTimeout(() => {
      if (listeners.size > 0 && !socket) open();
    }, pause);
  };
}

/** Reopen the connection: the reader's identity (the cookie it carries) changed. */
export function reopenLive() {
  const old = socket;
  socket = undefined;
  old?.close();
  if (listeners.size > 0) open();
}

/** Call `onChange` with each change while the calling screen is shown. */
export function useBoardLive(onChange: Listener) {
  const latest = useRef(onChange);
  latest.current = onChange;
  useEffect(() => {
    const listener: Listener = (c) => latest.current(c);
    listeners.add(listener);
    if (!socket) open();
    return () => void listeners.delete(listener);
  }, []);
}
