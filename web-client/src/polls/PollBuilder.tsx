// A new vote, in a dialog: question, method, electorates, secrecy, visibility, deadline,
// quorum and majority. Created as a draft; it can be opened at once.
import { useState } from "preact/hooks";
import { useApp } from "../app/context";
import { t, type Key } from "../i18n";
import type { PollSpec } from "../protocol/PollSpec";
import { Dialog } from "../ui/Dialog";
import { ErrorNote } from "../ui/ErrorNote";

const AT = "create_poll";
type Method = "yes_no_abstain" | "single" | "multiple" | "rating";

export function PollBuilder() {
  const app = useApp();
  const s = app.room.value!;
  const [question, setQuestion] = useState("");
  const [method, setMethod] = useState<Method>("yes_no_abstain");
  const [optionText, setOptionText] = useState("");
  const [secret, setSecret] = useState(true);
  const [binding, setBinding] = useState(true);
  const [advisory, setAdvisory] = useState(false);
  const [visibility, setVisibility] = useState<"live" | "after_close" | "hosts_until_published">("after_close");
  const [deadline, setDeadline] = useState("");
  const [quorum, setQuorum] = useState("");
  const [rule, setRule] = useState<"simple" | "absolute" | "two_thirds">("simple");
  const [openNow, setOpenNow] = useState(true);
  const close = () => app.openDialog(undefined);
  const create = async () => {
    const options = optionText.split("\n").map((o) => o.trim()).filter(Boolean);
    const m: PollSpec["method"] =
      method === "single" ? { kind: "single", options } : method === "multiple" ? { kind: "multiple", options, min: 1, max: Math.max(1, options.length) } : { kind: method };
    const spec: PollSpec = {
      question,
      method: m,
      binding,
      advisory,
      secret,
      visibility: secret && visibility === "live" ? "after_close" : visibility,
      allow_change: false,
      deadline_s: deadline ? Number(deadline) : undefined,
      quorum: quorum ? { percent: Number(quorum), of: "present" } : undefined,
      majority: { rule, of: rule === "simple" ? "cast" : "present" },
    };
    const before = new Set(app.room.value?.room.polls.map((p) => p.id));
    if (!(await app.act({ type: "create_poll", spec }, AT))) return;
    const made = app.room.value?.room.polls.find((p) => !before.has(p.id));
    if (openNow && made && s.room.session === "in_session") {
      if (!(await app.act({ type: "open_poll", poll: made.id }, AT))) return;
    }
    close();
    app.showTab("polls");
  };
  const select = <T extends string>(label: Key, value: T, set: (v: T) => void, values: readonly T[], prefix: string) => (
    <label class="field">
      <span>{t(label)}</span>
      <select value={value} onChange={(e) => set((e.target as HTMLSelectElement).value as T)}>
        {values.map((v) => (
          <option key={v} value={v}>
            {t(`${prefix}${v}` as Key)}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <Dialog title={t("newPoll")} onClose={close} testid="poll-builder" wide={true}>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <label class="field">
          <span>{t("question")}</span>
          <input data-testid="poll-question" value={question} maxLength={500} onInput={(e) => setQuestion((e.target as HTMLInputElement).value)} />
        </label>
        {select("method", method, setMethod, ["yes_no_abstain", "single", "multiple", "rating"] as const, "method_")}
        {method === "single" || method === "multiple" ? (
          <label class="field">
            <span>{t("optionsOnePerLine")}</span>
            <textarea rows={3} value={optionText} onInput={(e) => setOptionText((e.target as HTMLTextAreaElement).value)} />
          </label>
        ) : null}
        <fieldset class="row">
          <legend>{t("whoVotes")}</legend>
          <label class="check">
            <input type="checkbox" data-testid="poll-binding" checked={binding} onChange={(e) => setBinding((e.target as HTMLInputElement).checked)} /> {t("binding")}
          </label>
          <label class="check">
            <input type="checkbox" data-testid="poll-advisory" checked={advisory} onChange={(e) => setAdvisory((e.target as HTMLInputElement).checked)} /> {t("advisory")}
          </label>
          <label class="check">
            <input type="checkbox" checked={secret} onChange={(e) => setSecret((e.target as HTMLInputElement).checked)} /> {t("secret")}
          </label>
        </fieldset>
        <div class="row">
          {select("visibility", visibility, setVisibility, ["live", "after_close", "hosts_until_published"] as const, "visibility_")}
          {select("majority", rule, setRule, ["simple", "absolute", "two_thirds"] as const, "majority_")}
        </div>
        <div class="row">
          <label class="field">
            <span>{t("deadline")}</span>
            <input type="number" data-testid="poll-deadline" min={10} value={deadline} onInput={(e) => setDeadline((e.target as HTMLInputElement).value)} />
          </label>
          <label class="field">
            <span>{t("quorumPercent")}</span>
            <input type="number" min={1} max={100} value={quorum} onInput={(e) => setQuorum((e.target as HTMLInputElement).value)} />
          </label>
        </div>
        <label class="check">
          <input type="checkbox" data-testid="poll-open-now" checked={openNow} onChange={(e) => setOpenNow((e.target as HTMLInputElement).checked)} /> {t("openAtOnce")}
        </label>
        <ErrorNote at={AT} />
        <div class="dialog-actions">
          <button type="submit" class="primary" data-testid="create-poll">
            {openNow && s.room.session === "in_session" ? t("createAndOpen") : t("createDraft")}
          </button>
          <button type="button" onClick={close}>
            {t("cancel")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
