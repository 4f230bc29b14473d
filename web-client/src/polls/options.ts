// A poll's options as people read them, and the ballot each stands for.
import { t } from "../i18n";
import type { Choice } from "../protocol/Choice";
import type { PollView } from "../protocol/PollView";

export interface Option {
  index: number;
  label: string;
  choice: Choice;
}

export function optionsOf(p: PollView): Option[] {
  const m = p.spec.method;
  switch (m.kind) {
    case "yes_no_abstain":
      return (["yes", "no", "abstain"] as const).map((vote, index) => ({ index, label: t(vote), choice: { kind: "yes_no_abstain", vote } }));
    case "single":
      return m.options.map((o, index) => ({ index, label: o, choice: { kind: "single", option: index } }));
    case "multiple":
      return m.options.map((o, index) => ({ index, label: o, choice: { kind: "multiple", options: [index] } }));
    case "rating":
      return [1, 2, 3, 4, 5].map((stars, index) => ({ index, label: t("stars", { n: stars }), choice: { kind: "rating", stars } }));
  }
}

/** What a ballot says, in words ("赞成", "停车位、管网改造", "4 星"). */
export function choiceText(p: PollView, c: Choice): string {
  const opts = optionsOf(p);
  switch (c.kind) {
    case "yes_no_abstain":
      return t(c.vote);
    case "single":
      return opts[c.option]?.label ?? "";
    case "multiple":
      return c.options.map((i) => opts[i]?.label ?? "").join(t("listSep"));
    case "rating":
      return t("stars", { n: c.stars });
  }
}
