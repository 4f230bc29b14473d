// Votes and polls (表决与投票): each with its state, turnout and result chart; hosts
// open, close, publish and reset them here and create them in a dialog.
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import type { PollView } from "../protocol/PollView";
import { ErrorNote } from "../ui/ErrorNote";
import { Results } from "./Results";

export function PollsPanel() {
  const app = useApp();
  const s = app.room.value!;
  const host = s.you.grants.includes("manage_polls");
  const polls = s.room.polls.filter((p) => host || p.state !== "draft");
  return (
    <div class="panel-body" data-testid="polls-panel">
      {host ? (
        <button class="primary" data-testid="new-poll" onClick={() => app.openDialog("poll_builder")}>
          {t("newPoll")}
        </button>
      ) : null}
      <ErrorNote at="polls" />
      {polls.length === 0 ? <p class="muted">{t("noPolls")}</p> : null}
      <ul class="items">
        {[...polls].reverse().map((p) => (
          <PollItem key={p.id} poll={p} host={host} />
        ))}
      </ul>
    </div>
  );
}

function PollItem({ poll: p, host }: { poll: PollView; host: boolean }) {
  const app = useApp();
  const s = app.room.value!;
  const canVote = app.votable.value.some((v) => v.id === p.id);
  const turnout = p.spec.binding && p.spec.advisory ? t("turnoutBoth", { b: p.turnout_binding, a: p.turnout_advisory }) : t("turnoutOne", { n: p.turnout_binding + p.turnout_advisory });
  return (
    <li class="poll" data-testid={`poll-${p.id}`}>
      <h3>{p.spec.question}</h3>
      <p class="muted small">
        <span class={`tag state-${p.state}`}>{t(`poll_${p.state}` as Key)}</span> {turnout}
        {p.spec.binding && p.eligible ? ` · ${t("eligibleCount", { n: p.eligible })}` : ""}
      </p>
      {canVote ? (
        <button class="primary" data-testid="vote-now" onClick={() => app.showBallot(p.id)}>
          {t("voteNow")}
        </button>
      ) : p.voted ? (
        <p class="ok small">✓ {t("ballotRecorded")}</p>
      ) : null}
      {host ? (
        <div class="row">
          {p.state === "draft" ? (
            <button class="small" data-testid="open-poll" disabled={s.room.session !== "in_session"} onClick={() => app.act({ type: "open_poll", poll: p.id }, "polls")}>
              {t("openPoll")}
            </button>
          ) : null}
          {p.state === "open" ? (
            <button class="small" data-testid="close-poll" onClick={() => app.act({ type: "close_poll", poll: p.id }, "polls")}>
              {t("closePoll")}
            </button>
          ) : null}
          {p.state === "closed" ? (
            <button class="small" data-testid="publish-poll" onClick={() => app.act({ type: "publish_poll", poll: p.id }, "polls")}>
              {t("publishPoll")}
            </button>
          ) : null}
          {p.state !== "draft" ? (
            <button class="small" onClick={() => app.ask({ text: "resetConfirm", ok: "resetPoll", run: () => void app.act({ type: "reset_poll", poll: p.id, reason: app.reason.value.trim() || t("defaultReason") }, "polls") })}>
              {t("resetPoll")}
            </button>
          ) : null}
        </div>
      ) : null}
      <Results poll={p} />
    </li>
  );
}
