// 协商过程: what a topic's meeting did on its agenda item — speeches, votes with their
// results once published, questions — read from the meeting's record. One component for
// the public topic page and the console's topic desk, with its own small string table so
// that neither page loads the other's.
import { lang, when } from "../i18n/lang";
import { pollLabels, type InMeeting, type MeetingPoll } from "./api";
import "./MeetingRecord.css";

const zh = {
  title: "协商过程",
  where: "{title} · {when}",
  item: "会议议程：{item}",
  none: "会议还没有进行到这个议题。",
  speeches: "发言（{n}）",
  sector: "（{sector}）",
  speech_len: "发言 {len}",
  speaking: "正在发言",
  min_sec: "{m}分{s}秒",
  sec: "{s}秒",
  polls: "表决（{n}）",
  unpublished: "表决结果尚未公布。",
  ballots: "共 {n} 票",
  advisory: "参考意见（{n} 票）",
  outcome_passed: "通过",
  outcome_failed: "未通过",
  outcome_no_quorum: "不足法定人数",
  yes: "赞成",
  no: "反对",
  abstain: "弃权",
  stars: "{n}星",
  questions: "提问（{n}）",
  answered: "已答复",
  unanswered: "待答复",
};

export type RecordKey = keyof typeof zh;

const en: Record<RecordKey, string> = {
  title: "In the meeting",
  where: "{title} · {when}",
  item: "Agenda item: {item}",
  none: "The meeting has not reached this topic yet.",
  speeches: "Speeches ({n})",
  sector: " ({sector})",
  speech_len: "spoke {len}",
  speaking: "speaking now",
  min_sec: "{m} min {s} s",
  sec: "{s} s",
  polls: "Votes ({n})",
  unpublished: "The result has not been published yet.",
  ballots: "Ballots cast: {n}",
  advisory: "Advisory opinion (ballots cast: {n})",
  outcome_passed: "Passed",
  outcome_failed: "Not passed",
  outcome_no_quorum: "No quorum",
  yes: "Yes",
  no: "No",
  abstain: "Abstain",
  stars: "{n} stars",
  questions: "Questions ({n})",
  answered: "Answered",
  unanswered: "Not answered yet",
};

export const recordTables = { "zh-CN": zh, en };

function rt(key: RecordKey, vars?: Record<string, string | number>): string {
  const text = recordTables[lang.value][key];
  return vars ? text.replace(/\{(\w+)\}/g, (m, v: string) => (v in vars ? String(vars[v]) : m)) : text;
}

/** A length of speech in words: 45秒, 1分35秒. */
export function spoken(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? rt("min_sec", { m: Math.floor(s / 60), s: s % 60 }) : rt("sec", { s });
}

/** The record of meeting `m` on the topic's item; `level` is its heading's (2 on the
 * topic page, 3 inside the desk's card). */
export function MeetingRecord({ m, level }: { m: InMeeting; level: 2 | 3 }) {
  const H = level === 2 ? "h2" : "h3";
  const Sub = level === 2 ? "h3" : "h4";
  const at = m.started_at ?? m.starts_at;
  const nothing = m.speeches.length + m.polls.length + m.questions.length === 0;
  return (
    <section class="mr" aria-labelledby="mr-h" data-testid="in-meeting">
      <H id="mr-h" class="mr-title">{rt("title")}</H>
      <p>
        <strong data-testid="meeting-name">{at ? rt("where", { title: m.title, when: when(at) }) : m.title}</strong>
      </p>
      <p class="mr-muted">{rt("item", { item: m.item })}</p>
      {nothing ? <p class="mr-muted">{rt("none")}</p> : null}
      {m.speeches.length ? (
        <>
          <Sub class="mr-sub">{rt("speeches", { n: m.speeches.length })}</Sub>
          <ul class="mr-list" data-testid="meeting-speeches">
            {m.speeches.map((s) => (
              <li key={s.started_at}>
                <span>
                  <strong>{s.name}</strong>
                  {s.sector ? rt("sector", { sector: s.sector }) : ""}
                </span>
                <span class="mr-muted">
                  {when(s.started_at)} · {s.spoken_ms === null ? rt("speaking") : rt("speech_len", { len: spoken(s.spoken_ms) })}
                </span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {m.polls.length ? (
        <>
          <Sub class="mr-sub">{rt("polls", { n: m.polls.length })}</Sub>
          <ul class="mr-list" data-testid="meeting-polls">
            {m.polls.map((p, i) => (
              <Vote key={i} p={p} />
            ))}
          </ul>
        </>
      ) : null}
      {m.questions.length ? (
        <>
          <Sub class="mr-sub">{rt("questions", { n: m.questions.length })}</Sub>
          <ul class="mr-list" data-testid="meeting-questions">
            {m.questions.map((q, i) => (
              <li key={i}>
                <span>{q.text}</span>
                <span class={`mr-chip ${q.answered ? "mr-answered" : ""}`}>{rt(q.answered ? "answered" : "unanswered")}</span>
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}

/** A vote: its question and, once published, the counts as bars with the numbers beside them. */
function Vote({ p }: { p: MeetingPoll }) {
  const labels = pollLabels(p, { yes: rt("yes"), no: rt("no"), abstain: rt("abstain"), stars: (n) => rt("stars", { n }) });
  const r = p.result;
  const tally = r?.binding ?? r?.advisory ?? null;
  const top = Math.max(1, ...(tally?.counts ?? []));
  return (
    <li>
      <strong>{p.question}</strong>
      {!r ? <span class="mr-muted">{rt("unpublished")}</span> : null}
      {r && r.outcome !== "not_declared" ? <span class={`mr-chip mr-${r.outcome}`}>{rt(`outcome_${r.outcome}`)}</span> : null}
      {tally ? (
        <>
          <span class="mr-muted">{r?.binding ? rt("ballots", { n: tally.ballots }) : rt("advisory", { n: tally.ballots })}</span>
          <ul class="mr-bars">
            {tally.counts.map((n, i) => (
              <li key={i}>
                <span>{labels[i] ?? ""}</span>
                <span class="mr-track" aria-hidden="true">
                  <span style={{ width: `${(100 * n) / top}%` }} />
                </span>
                <strong class="mr-n">{n}</strong>
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </li>
  );
}
