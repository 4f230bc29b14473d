// A poll opens: its ballot comes to the front (a dialog; a bottom sheet on a phone)
// with its deadline counting down. A binding ballot shows what was chosen for review
// before it is cast; afterwards it says the ballot was recorded, once the server has
// acknowledged it (a secret ballot is acknowledged when it is sealed in a batch).
import { useState } from "preact/hooks";
import { useApp } from "../app/context";
import { secondsLeft } from "../app/clock";
import { t } from "../i18n";
import type { Choice } from "../protocol/Choice";
import type { PollView } from "../protocol/PollView";
import { Dialog } from "../ui/Dialog";
import { ErrorNote } from "../ui/ErrorNote";
import { choiceText, optionsOf } from "./options";

const AT = "ballot";

export function BallotDialog() {
  const app = useApp();
  const id = app.ballot.value;
  const poll = app.room.value?.room.polls.find((p) => p.id === id);
  if (id === undefined || !poll) return null;
  return <Ballot key={poll.id} poll={poll} />;
}

function Ballot({ poll }: { poll: PollView }) {
  const app = useApp();
  const s = app.room.value!;
  const binding = poll.spec.binding && s.you.grants.includes("vote_binding");
  const [picked, setPicked] = useState<number[]>([]);
  const [review, setReview] = useState(false);
  const [sending, setSending] = useState(false);
  const m = poll.spec.method;
  const multiple = m.kind === "multiple";
  const options = optionsOf(poll);
  const choice: Choice | undefined = picked.length === 0 ? undefined : multiple ? { kind: "multiple", options: [...picked].sort((a, b) => a - b) } : options[picked[0]].choice;
  const countOk = !multiple || (picked.length >= m.min && picked.length <= m.max);
  const away = () => app.putBallotAway(poll.id);
  const cast = async () => {
    if (!choice) return;
    setSending(true);
    await app.act({ type: "cast_ballot", poll: poll.id, choice }, AT);
    setSending(false);
  };
  const left = poll.deadline ? secondsLeft(poll.deadline, app.serverNow.value) : undefined;
  const title = binding ? t("ballotBinding") : t("ballotAdvisory");

  if (poll.voted) {
    return (
      <Dialog title={title} onClose={away} testid="ballot" alert={true}>
        <p class="question">{poll.spec.question}</p>
        {sending ? (
          <p class="big-note" role="status" data-testid="ballot-sealing">
            {t("ballotSealing")}
          </p>
        ) : (
          <p class="ok big-note" role="status" data-testid="ballot-recorded">
            ✓ {t("ballotRecorded")}
          </p>
        )}
        {poll.my_choice ? <p>{t("youChose", { choice: choiceText(poll, poll.my_choice) })}</p> : poll.spec.secret ? <p class="muted">{t("secretNote")}</p> : null}
        <div class="dialog-actions">
          <button class="primary" data-autofocus onClick={away}>
            {t("close")}
          </button>
        </div>
      </Dialog>
    );
  }
  if (poll.state !== "open") {
    return (
      <Dialog title={title} onClose={away} testid="ballot">
        <p class="question">{poll.spec.question}</p>
        <p role="status">{t("pollClosedBeforeVote")}</p>
        <div class="dialog-actions">
          <button class="primary" onClick={away}>
            {t("close")}
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title={title} onClose={away} testid="ballot" alert={true}>
      <p class="question" data-testid="ballot-question">
        {poll.spec.question}
      </p>
      <p class="muted small">
        {[poll.spec.secret ? t("secret") : t("named"), binding ? t("binding") : t("advisory")].join(" · ")}
        {left !== undefined ? (
          <>
            {" · "}
            <span class={`deadline ${left <= 10 ? "warn" : ""}`} data-testid="ballot-deadline" role="timer" aria-live="off">
              {t("secondsLeft", { n: left })}
            </span>
          </>
        ) : null}
      </p>
      {review && choice ? (
        <div class="review" data-testid="ballot-review">
          <p class="review-line" role="status">
            {t("reviewChoice", { choice: choiceText(poll, choice) })}
          </p>
          <div class="dialog-actions">
            <button class="primary" data-testid="ballot-confirm" data-autofocus disabled={sending} onClick={() => void cast()}>
              {t("confirmSubmit")}
            </button>
            <button onClick={() => setReview(false)}>{t("changeChoice")}</button>
          </div>
        </div>
      ) : (
        <>
          <fieldset class="choices">
            <legend class="sr">{t("yourChoice")}</legend>
            {multiple ? <p class="muted small">{t("pickBetween", { min: m.min, max: m.max })}</p> : null}
            {options.map((o) => {
              const on = picked.includes(o.index);
              return (
                <label key={o.index} class={`choice ${on ? "on" : ""}`}>
                  <input
                    type={multiple ? "checkbox" : "radio"}
                    name={`ballot-${poll.id}`}
                    checked={on}
                    onChange={() => setPicked(multiple ? (on ? picked.filter((x) => x !== o.index) : [...picked, o.index]) : [o.index])}
                  />
                  <span>{o.label}</span>
                </label>
              );
            })}
          </fieldset>
          <div class="dialog-actions">
            {binding ? (
              <button class="primary" data-testid="ballot-next" disabled={!choice || !countOk} onClick={() => setReview(true)}>
                {t("nextReview")}
              </button>
            ) : (
              <button class="primary" data-testid="ballot-submit" disabled={!choice || !countOk || sending} onClick={() => void cast()}>
                {t("submitBallot")}
              </button>
            )}
            <button onClick={away}>{t("voteLater")}</button>
          </div>
        </>
      )}
      <ErrorNote at={AT} />
    </Dialog>
  );
}
