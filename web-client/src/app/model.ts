// The one model of the page (Preact signals' model pattern): the room as the reducer
// folds it, the connection, what the meeting needs to tell me, errors by the control
// that caused them, what is open on screen, and the media session. Components get it
// from context and read signals; they change it only through its actions.
import { action, batch, computed, createModel, effect, signal } from "@preact/signals";
import type { Command } from "../protocol/Command";
import type { ErrorCode } from "../protocol/ErrorCode";
import type { ServerMessage } from "../protocol/ServerMessage";
import { Connection, CommandError, type EndCause, type Status } from "./conn";
import type { Link } from "./link";
import { initial, reduce, type RoomState } from "./reducer";
import { noticesFor, withNotices, type Notice } from "./notices";
import { browserDeps, MediaController, type MediaDeps } from "../media/controller";

/** Side panel tabs. */
export type Tab = "queue" | "polls" | "questions" | "comments" | "chat" | "attendance" | "time" | "feed";

/** Dialogs a host opens from the run bar, and the device check. */
export type DialogName = "poll_builder" | "moderation" | "settings" | "live" | "devices" | "close_session" | "leave";

/** A confirmation asked before an irreversible act. */
export interface Confirm {
  /** i18n key of the question, and its values. */
  text: string;
  vars?: Record<string, string>;
  ok: string;
  run: () => void;
}

export interface Env {
  wsUrl: string;
  storage?: Pick<Storage, "getItem" | "setItem">;
  /** Media pieces (tests replace them); absent: the browser's. */
  media?: MediaDeps;
  /** A short sound when the floor is given (the user may turn it off). */
  chime?: () => void;
  /** Per-tab storage: a reload skips the join screen once it was passed. */
  session?: Pick<Storage, "getItem" | "setItem">;
}

/** Where the page stands, from the link to the meeting. */
export type Stage = "join" | "meeting" | "left";

export const AppModel = createModel((link: Link, env: Env) => {
  const pref = (key: string, fallback: boolean) => {
    const v = env.storage?.getItem(`yishi.${key}`);
    return v === null || v === undefined ? fallback : v === "1";
  };
  const room = signal<RoomState | undefined>(undefined);
  const status = signal<Status>("connecting");
  const ended = signal<EndCause | undefined>(link.broken ? "unauthorized" : undefined);
  const stage = signal<Stage>("join");
  const offset = signal(0);
  const serverNow = signal(Date.now());
  const errors = signal<Record<string, ErrorCode>>({});
  const notices = signal<Notice[]>([]);
  /** The poll whose ballot is in front (a dialog or a sheet). */
  const ballot = signal<number | undefined>(undefined);
  /** Polls whose ballot the user put away (they vote from the polls tab then). */
  const ballotsAway = signal<number[]>([]);
  const dialog = signal<DialogName | undefined>(undefined);
  const confirm = signal<Confirm | undefined>(undefined);
  const tab = signal<Tab | undefined>(undefined);
  /** On a phone, the side panel (a bottom sheet) is open. */
  const sheet = signal(false);
  const large = signal(pref("large", false));
  const contrast = signal(pref("contrast", false));
  const chime = signal(pref("chime", true));
  /** Text only (图文直播): no audio or video, for weak networks. */
  const textOnly = signal(pref("textOnly", false));
  /** Reasons the host gives for overrides (reorder, remove, out-of-order grant). */
  const reason = signal("");

  let conn: Connection | undefined;
  const media = new MediaController(env.media ?? browserDeps((m) => conn?.post(m) ?? false));
  if (link.projector) media.watch();

  const clockTimer = setInterval(() => (serverNow.value = Date.now() + offset.value), 250);

  const onMessage = (msg: ServerMessage) => {
    if (media.handle(msg)) return;
    if (msg.type === "welcome") media.welcome(msg);
    batch(() => {
      const before = room.value;
      if (msg.type === "welcome" && !before) {
        room.value = initial(msg);
        return;
      }
      if (!before) return;
      const next = reduce(before, msg);
      if (next.gap) {
        // A batch went missing: reconnecting resumes from the last one applied.
        conn?.stop();
        open();
        return;
      }
      if (msg.type === "events") notices.value = withNotices(notices.value, noticesFor(before, msg.events));
      room.value = next;
    });
  };

  const open = () => {
    conn = new Connection({
      url: env.wsUrl,
      token: link.token,
      onMessage,
      onStatus: (s) => (status.value = s),
      onEnd: (cause) => {
        ended.value = cause;
        media.leave();
      },
      onOffset: (o) => (offset.value = o),
      resumePoint: () => (room.value ? { session: room.value.session, last_seq: room.value.through } : undefined),
    });
    conn.start();
  };

  // The floor given to me: a chime, if wanted.
  let lastFloor: string | undefined;
  effect(() => {
    const given = notices.value.find((n) => n.kind === "floor_given");
    if (given && given.id !== lastFloor) {
      lastFloor = given.id;
      if (chime.peek()) env.chime?.();
    }
  });

  /** Open polls I may vote in and have not voted in. */
  const votable = computed(() => {
    const s = room.value;
    if (!s || s.room.session === "closed") return [];
    const grants = s.you.grants;
    return s.room.polls.filter((p) => {
      if (p.state !== "open" || p.voted) return false;
      const binding = p.spec.binding && grants.includes("vote_binding") && s.eligible[p.id] !== false;
      const advisory = p.spec.advisory && grants.includes("vote_advisory") && !(p.spec.binding && grants.includes("vote_binding"));
      return binding || advisory;
    });
  });

  // A poll opens: its ballot comes to the front (unless the user put it away).
  effect(() => {
    const open = votable.value;
    const current = ballot.peek();
    if (current !== undefined) {
      const poll = room.value?.room.polls.find((p) => p.id === current);
      // Keep showing the confirmation of a cast ballot until it is acknowledged.
      if (poll && (poll.state === "open" || poll.voted)) return;
      ballot.value = undefined;
    }
    const next = open.find((p) => !ballotsAway.value.includes(p.id));
    if (next) ballot.value = next.id;
  });

  // The session closed: media ends (the server ends it too), dialogs close.
  effect(() => {
    if (room.value?.room.session === "closed") {
      media.end();
      dialog.value = undefined;
    }
  });

  const save = (key: string, v: boolean) => env.storage?.setItem(`yishi.${key}`, v ? "1" : "0");

  // Back after a reload: straight in.
  const enteredKey = `yishi.entered.${link.token.slice(-16)}`;
  if (!link.broken && env.session?.getItem(enteredKey) === "1") {
    stage.value = "meeting";
    open();
  }

  return {
    room,
    status,
    ended,
    stage,
    serverNow,
    errors,
    notices,
    ballot,
    dialog,
    confirm,
    tab,
    sheet,
    reason,
    prefs: { large, contrast, chime, textOnly },
    votable,
    media: media.view(),

    enter: action(() => {
      if (stage.value === "meeting") return;
      stage.value = "meeting";
      env.session?.setItem(enteredKey, "1");
      ended.value = link.broken ? "unauthorized" : undefined;
      if (!link.broken) open();
    }),
    retry: action(() => {
      conn?.stop();
      ended.value = undefined;
      stage.value = "meeting";
      open();
    }),
    /** Leave the meeting (the connection and media end); `enter` comes back. */
    leave: action(() => {
      conn?.stop();
      media.leave();
      room.value = undefined;
      stage.value = "left";
      dialog.value = undefined;
    }),
    /**
     * Send a command; a refusal shows next to the control `at` (by default the
     * command's type) until it is cleared or the same control succeeds.
     */
    act: action(async (command: Command, at: string = command.type): Promise<boolean> => {
      if (!conn) return false;
      const { [at]: _, ...rest } = errors.value;
      errors.value = rest;
      try {
        await conn.send(command);
        return true;
      } catch (e) {
        const code: ErrorCode = e instanceof CommandError ? e.code : "internal";
        errors.value = { ...errors.value, [at]: code };
        return false;
      }
    }),
    clearError: action((at: string) => {
      const { [at]: _, ...rest } = errors.value;
      errors.value = rest;
    }),
    dismiss: action((id: string) => (notices.value = notices.value.filter((n) => n.id !== id))),
    putBallotAway: action((poll: number) => {
      ballotsAway.value = [...ballotsAway.value, poll];
      ballot.value = undefined;
    }),
    showBallot: action((poll: number) => {
      ballotsAway.value = ballotsAway.value.filter((p) => p !== poll);
      ballot.value = poll;
    }),
    openDialog: action((name: DialogName | undefined) => (dialog.value = name)),
    ask: action((c: Confirm | undefined) => (confirm.value = c)),
    showTab: action((t: Tab) => {
      tab.value = t;
      sheet.value = true;
    }),
    setSheet: action((open: boolean) => (sheet.value = open)),
    setReason: action((text: string) => (reason.value = text)),
    toggleLarge: action(() => save("large", (large.value = !large.value))),
    toggleContrast: action(() => save("contrast", (contrast.value = !contrast.value))),
    toggleChime: action(() => save("chime", (chime.value = !chime.value))),
    setTextOnly: action((on: boolean) => {
      save("textOnly", (textOnly.value = on));
      if (on) media.stop();
      else void media.start();
    }),
    /** For the end-to-end tests and debugging. */
    debug: () => ({ media, conn, clockTimer }),
  };
});

export type App = InstanceType<typeof AppModel>;
