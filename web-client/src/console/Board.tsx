// The topic board (码上议事) in the console, for the committee office (docs/board.md):
// 待审核, the moderation queue (topics, comments and studio messages, each published or
// rejected with a reason); 议题办理, the published topics through their stages (a dated
// public note for each step), merging a duplicate, an official answer, the selection
// into a prepared meeting, the consultation opinion (协商意见) and the outcomes (成果)
// with their progress; 遴选名单, the topics whose supports reached the threshold; and
// 回头看, the outcomes due for review. Each list is read again after each act.
import { useEffect, useState } from "preact/hooks";
import { boardStaffApi, meetingsApi, type BoardCommand, type Decision, type Meeting, type Moderated, type OutcomeView, type Stage, type TopicPage, type TopicSummary } from "./api";
import { MeetingRecord } from "../board/MeetingRecord";
import { AskText, codeOf, localTime, Problem } from "./common";
import { when } from "./Meetings";
import { ct, type ConsoleKey } from "./strings";

type View = "queue" | "topics" | "shortlist" | "review";
const VIEWS: View[] = ["queue", "topics", "shortlist", "review"];
const STAGES: Stage[] = ["collecting", "selecting", "consulted", "handling", "done"];
const next = (s: Stage): Stage | undefined => STAGES[STAGES.indexOf(s) + 1];
const stageName = (s: Stage) => ct(`bd_stage_${s}` as ConsoleKey);
const send = (c: BoardCommand) => boardStaffApi.command(c);

/** What a dialog asks before its act. */
interface Ask {
  title: string;
  hint?: string;
  label: string;
  ok: string;
  act: (text: string) => Promise<unknown>;
  /** Said in the status line once the act is recorded. */
  said: string;
  /** Where on the screen the act's result is shown. */
  where?: string;
}

/** Do an act and say how it went, next to where it was asked (`where`). */
type Acts = ReturnType<typeof useActs>;

type Run = (act: () => Promise<unknown>, said: string, where?: string) => Promise<boolean>;

/** An act's result in words: recorded (`role=status`), or refused. */
function ActResult({ status, problem }: { status?: string; problem?: string }) {
  return (
    <>
      {status ? (
        <p class="c-done" role="status" data-testid="bd-status">
          {status}
        </p>
      ) : null}
      <Problem code={problem} scope="bd" />
    </>
  );
}

/** An act's outcome, kept on screen until the next one: recorded, or refused in words. */
function useActs(reload: () => void) {
  const [ask, setAsk] = useState<Ask>();
  const [status, setStatus] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const [at, setAt] = useState<string>();
  const run: Run = async (act, said, where) => {
    setProblem(undefined);
    setAt(where);
    try {
      await act();
      setStatus(said);
      reload();
      return true;
    } catch (e) {
      setStatus(undefined);
      setProblem(codeOf(e));
      // Read again: a refusal often means someone else acted first.
      reload();
      return false;
    }
  };
  const dialog = ask ? (
    <AskText
      {...ask}
      scope="bd"
      done={() => {
        setAsk(undefined);
        setProblem(undefined);
        setStatus(ask.said);
        setAt(ask.where);
        reload();
      }}
      cancel={() => setAsk(undefined)}
    />
  ) : null;
  /** The last act's result, if it was asked at `where`. */
  const shown = (where?: string) => (at === where && (status || problem) ? <ActResult status={status} problem={problem} /> : null);
  return { run, setAsk, dialog, shown };
}

export function BoardStaff() {
  const [view, setView] = useState<View>("queue");
  const [topic, setTopic] = useState<number>();
  /** What the topic's desk did last before it closed (a merge): said on the list. */
  const [notice, setNotice] = useState<string>();
  const open = (id: number) => {
    setNotice(undefined);
    setTopic(id);
  };
  return (
    <section class="c-page c-bd" data-testid="board-staff">
      <nav class="c-row c-subtabs" aria-label={ct("board")}>
        {VIEWS.map((v) => (
          <button
            key={v}
            type="button"
            aria-pressed={view === v && topic === undefined}
            onClick={() => {
              setView(v);
              setTopic(undefined);
              setNotice(undefined);
            }}
            data-testid={`bd-view-${v}`}
          >
            {ct(`bd_view_${v}` as ConsoleKey)}
          </button>
        ))}
      </nav>
      {topic !== undefined ? (
        <TopicDesk
          id={topic}
          back={(said) => {
            setNotice(said);
            setTopic(undefined);
          }}
        />
      ) : view === "queue" ? (
        <Queue />
      ) : view === "topics" ? (
        <Topics open={open} notice={notice} />
      ) : view === "shortlist" ? (
        <Shortlist open={open} notice={notice} />
      ) : (
        <Review />
      )}
    </section>
  );
}

type QueueData = Awaited<ReturnType<typeof boardStaffApi.queue>>;

/** 待审核: what residents, members and studio visitors sent, oldest first. */
function Queue() {
  const [q, setQ] = useState<QueueData>();
  const [titles, setTitles] = useState<Map<number, string>>(new Map());
  const [problem, setProblem] = useState<string>();
  const load = () =>
    Promise.all([boardStaffApi.queue(), boardStaffApi.topics()]).then(
      ([q, topics]) => {
        setQ(q);
        setTitles(new Map(topics.map((t) => [t.id, t.title])));
        setProblem(undefined);
      },
      (e) => setProblem(codeOf(e)),
    );
  useEffect(() => void load(), []);
  const acts = useActs(load);
  /** 公开 and 不予公开 for one item. */
  const decide = (what: Moderated, name: string, testid: string) => (
    <div class="c-row">
      <button type="button" class="c-primary" onClick={() => acts.run(() => send({ ...what, decision: "publish" } as Moderated & Decision), ct("bd_published", { name }))} aria-label={ct("bd_publishNamed", { name })} data-testid={`publish-${testid}`}>
        {ct("bd_publish")}
      </button>
      <button
        type="button"
        onClick={() =>
          acts.setAsk({
            title: ct("bd_rejectTitle", { name }),
            hint: ct("bd_rejectHint"),
            label: ct("bd_reason"),
            ok: ct("bd_reject"),
            act: (reason) => send({ ...what, decision: "reject", reason } as Moderated & Decision),
            said: ct("bd_rejected", { name }),
          })
        }
        aria-label={ct("bd_rejectNamed", { name })}
        data-testid={`reject-${testid}`}
      >
        {ct("bd_reject")}
      </button>
    </div>
  );
  const empty = q && q.topics.length + q.comments.length + q.messages.length === 0;
  return (
    <section class="c-card" aria-labelledby="bq-h" data-testid="bd-queue">
      <h2 id="bq-h">{ct("bd_queueTitle")}</h2>
      <p class="c-muted">{ct("bd_queueHint")}</p>
      {acts.shown()}
      <Problem code={problem} scope="bd" />
      {empty ? <p data-testid="bd-queue-empty">{ct("bd_queueEmpty")}</p> : null}
      {q && q.topics.length ? (
        <>
          <h3>{ct("bd_pendingTopics", { n: q.topics.length })}</h3>
          <ul class="c-board-list">
            {q.topics.map((t) => (
              <li key={t.id} data-testid={`pending-topic-${t.id}`}>
                <strong>{t.title}</strong>
                <span class="c-muted">{ct("bd_byAt", { name: t.author_name, when: localTime(t.submitted_at), area: t.area, category: t.category })}</span>
                <p class="c-pre">{t.text}</p>
                {decide({ type: "moderate_topic", topic: t.id }, t.title, `topic-${t.id}`)}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {q && q.comments.length ? (
        <>
          <h3>{ct("bd_pendingComments", { n: q.comments.length })}</h3>
          <ul class="c-board-list">
            {q.comments.map((c) => (
              <li key={c.id} data-testid={`pending-comment-${c.id}`}>
                <strong>{ct("bd_onTopic", { title: titles.get(c.topic) ?? "" })}</strong>
                <span class="c-muted">
                  {ct("bd_commentBy", { name: c.author_name, when: localTime(c.at) })}
                  {c.stance ? ` · ${ct(`bd_stance_${c.stance}` as ConsoleKey)}` : ""}
                </span>
                <p class="c-pre">{c.text}</p>
                {decide({ type: "moderate_comment", comment: c.id }, ct("bd_commentOf", { name: c.author_name }), `comment-${c.id}`)}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {q && q.messages.length ? (
        <>
          <h3>{ct("bd_pendingMessages", { n: q.messages.length })}</h3>
          <ul class="c-board-list">
            {q.messages.map((m) => (
              <li key={m.id} data-testid={`pending-message-${m.id}`}>
                <strong>{m.title ?? m.text.slice(0, 30)}</strong>
                <span class="c-muted">{ct("bd_messageBy", { studio: m.studio_name, name: m.sender_name, when: localTime(m.at) })}</span>
                <p class="c-pre">{m.text}</p>
                {decide({ type: "moderate_message", message: m.id }, m.title ?? ct("bd_messageOf", { name: m.sender_name }), `message-${m.id}`)}
              </li>
            ))}
          </ul>
        </>
      ) : null}
      {acts.dialog}
    </section>
  );
}

function StageChip({ stage }: { stage: Stage }) {
  return <span class={`c-badge c-stage-${stage}`}>{stageName(stage)}</span>;
}

function TopicLine({ t, open }: { t: TopicSummary; open: (id: number) => void }) {
  return (
    <li data-testid={`bd-topic-${t.id}`}>
      <div>
        <strong>{t.title}</strong>
        <span class="c-muted">
          <StageChip stage={t.stage} /> {ct("bd_line", { supports: t.supports, comments: t.comments, area: t.area, category: t.category })}
        </span>
      </div>
      <button type="button" onClick={() => open(t.id)} data-testid={`bd-open-${t.id}`} aria-label={ct("bd_openNamed", { title: t.title })}>
        {ct("bd_open")}
      </button>
    </li>
  );
}

/** 议题办理: the published topics, by stage. */
function Topics({ open, notice }: { open: (id: number) => void; notice?: string }) {
  const [stage, setStage] = useState<Stage>();
  const [list, setList] = useState<TopicSummary[]>();
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    boardStaffApi.topics(stage).then(setList, (e) => setProblem(codeOf(e)));
  }, [stage]);
  return (
    <section class="c-card" aria-labelledby="bt-h" data-testid="bd-topics">
      <h2 id="bt-h">{ct("bd_topicsTitle")}</h2>
      <p class="c-muted">{ct("bd_topicsHint")}</p>
      <ActResult status={notice} />
      <div class="c-row" role="group" aria-label={ct("bd_stage")}>
        {[undefined, ...STAGES].map((s) => (
          <button key={s ?? "all"} type="button" aria-pressed={stage === s} onClick={() => setStage(s)} data-testid={`bd-stage-${s ?? "all"}`}>
            {s ? stageName(s) : ct("filter_all")}
          </button>
        ))}
      </div>
      <Problem code={problem} scope="bd" />
      {list && list.length === 0 ? <p>{ct("bd_noTopics")}</p> : null}
      <ul class="c-rooms">
        {list?.map((t) => <TopicLine key={t.id} t={t} open={open} />)}
      </ul>
    </section>
  );
}

/** 遴选名单: topics still collecting whose supports reached the threshold; the threshold. */
function Shortlist({ open, notice }: { open: (id: number) => void; notice?: string }) {
  const [data, setData] = useState<{ threshold: number; topics: TopicSummary[] }>();
  const [problem, setProblem] = useState<string>();
  const [threshold, setThreshold] = useState("");
  const load = () =>
    boardStaffApi.shortlist().then(
      (d) => {
        setData(d);
        setThreshold(String(d.threshold));
      },
      (e) => setProblem(codeOf(e)),
    );
  useEffect(() => void load(), []);
  const acts = useActs(load);
  return (
    <section class="c-card" aria-labelledby="bs-h" data-testid="bd-shortlist">
      <h2 id="bs-h">{ct("bd_shortlistTitle")}</h2>
      <p class="c-muted">{data ? ct("bd_shortlistHint", { n: data.threshold }) : null}</p>
      {/* Shown once the threshold is known, so that nothing overwrites what the clerk types. */}
      {data ? (
        <form
          class="c-row"
          onSubmit={(e) => {
            e.preventDefault();
            const n = Number(threshold);
            void acts.run(() => send({ type: "set_threshold", supports: n }), ct("bd_thresholdSet", { n }));
          }}
        >
          <label class="c-short-field">
            {ct("bd_threshold")}
            <input type="number" min={1} step={1} required value={threshold} onInput={(e) => setThreshold(e.currentTarget.value)} data-testid="bd-threshold" />
          </label>
          <button type="submit" data-testid="bd-threshold-set">
            {ct("bd_setThreshold")}
          </button>
        </form>
      ) : null}
      {acts.shown() ?? <ActResult status={notice} />}
      <Problem code={problem} scope="bd" />
      {data && data.topics.length === 0 ? <p>{ct("bd_shortlistEmpty")}</p> : null}
      <ul class="c-rooms">
        {data?.topics.map((t) => <TopicLine key={t.id} t={t} open={open} />)}
      </ul>
    </section>
  );
}

/** One topic at the office's desk: its stage, the acts its stage allows, its outcomes. */
function TopicDesk({ id, back }: { id: number; back: (notice?: string) => void }) {
  const [t, setT] = useState<TopicPage>();
  const [others, setOthers] = useState<TopicSummary[]>([]);
  const [meetings, setMeetings] = useState<Meeting[]>([]);
  const [problem, setProblem] = useState<string>();
  const load = () => {
    boardStaffApi.topic(id).then(setT, (e) => setProblem(codeOf(e)));
    boardStaffApi.topics().then((l) => setOthers(l.filter((x) => x.id !== id)), () => undefined);
    meetingsApi.list().then(setMeetings, () => undefined);
  };
  useEffect(load, [id]);
  const acts = useActs(load);
  if (!t) return problem ? <Problem code={problem} scope="bd" /> : <p>{ct("loading")}</p>;
  const to = next(t.stage);
  const meeting = t.meeting ? meetings.find((m) => m.id === t.meeting) : undefined;
  return (
    <div class="c-page c-bd" data-testid="bd-topic">
      <button type="button" class="c-back c-start" onClick={() => back()} data-testid="bd-back">
        {ct("bd_back")}
      </button>
      <section class="c-card" aria-labelledby="bd-h">
        <h2 id="bd-h">{t.title}</h2>
        <p class="c-muted">
          <StageChip stage={t.stage} /> {ct("bd_byAt", { name: t.author_name, when: localTime(t.submitted_at), area: t.area, category: t.category })}
        </p>
        <p class="c-big c-strong" data-testid="bd-supports">
          {ct("bd_supports", { n: t.supports })}
        </p>
        <p class="c-pre">{t.text}</p>
        <ol class="c-stages" aria-label={ct("bd_stage")}>
          {STAGES.map((s) => (
            <li key={s} class={s === t.stage ? "on" : STAGES.indexOf(s) < STAGES.indexOf(t.stage) ? "past" : ""} aria-current={s === t.stage ? "step" : undefined}>
              {stageName(s)}
            </li>
          ))}
        </ol>
        {acts.shown()}
        <div class="c-row">
          {to ? (
            <button
              type="button"
              class="c-primary"
              onClick={() =>
                acts.setAsk({
                  title: ct("bd_advanceTitle", { stage: stageName(to) }),
                  hint: ct("bd_advanceHint"),
                  label: ct("bd_note"),
                  ok: ct("bd_advance", { stage: stageName(to) }),
                  act: (note) => send({ type: "advance_stage", topic: id, to, note }),
                  said: ct("bd_advanced", { stage: stageName(to) }),
                })
              }
              data-testid="bd-advance"
            >
              {ct("bd_advance", { stage: stageName(to) })}
            </button>
          ) : null}
          <button
            type="button"
            onClick={() =>
              acts.setAsk({
                title: ct("bd_answerTitle"),
                hint: ct("bd_answerHint"),
                label: ct("bd_answer"),
                ok: ct("bd_answerSend"),
                act: (text) => send({ type: "post_comment", topic: id, text }),
                said: ct("bd_answered"),
              })
            }
            data-testid="bd-answer"
          >
            {ct("bd_answerTitle")}
          </button>
        </div>
      </section>

      <section class="c-card" aria-labelledby="bdc-h" data-testid="bd-consultation">
        <h2 id="bdc-h">{ct("bd_consultation")}</h2>
        {acts.shown("consultation")}
        {t.meeting ? (
          <p data-testid="bd-meeting">{ct("bd_inMeeting", { title: meeting?.title ?? t.in_meeting?.title ?? t.meeting })}</p>
        ) : t.stage === "collecting" || t.stage === "selecting" ? (
          <SelectMeeting topic={t} meetings={meetings} run={acts.run} />
        ) : (
          <p class="c-muted">{ct("bd_notSelected")}</p>
        )}
        {t.in_meeting ? <MeetingRecord m={t.in_meeting} level={3} /> : null}
        {t.opinion ? (
          <div class="c-summary c-summary-ok" data-testid="bd-opinion">
            <strong>{ct("bd_opinion")}</strong>
            <p class="c-pre">{t.opinion}</p>
          </div>
        ) : t.meeting ? (
          <TextForm label={ct("bd_opinion")} hint={ct("bd_opinionHint")} ok={ct("bd_recordOpinion")} testid="bd-opinion-form" act={(text) => acts.run(() => send({ type: "record_opinion", topic: id, text }), ct("bd_opinionRecorded"), "consultation")} />
        ) : null}
      </section>

      {t.opinion ? <Outcomes t={t} acts={acts} /> : null}

      {t.timeline.length ? (
        <section class="c-card" aria-labelledby="bdt-h">
          <h2 id="bdt-h">{ct("bd_timeline")}</h2>
          <ol class="c-timeline" data-testid="bd-timeline">
            {t.timeline.map((e) => (
              <li key={e.seq}>
                <span class="c-muted">{localTime(e.at)}</span> {entryTitle(e)}
                {e.text ? `${ct("bd_tlSep")}${e.text}` : ""}
              </li>
            ))}
          </ol>
        </section>
      ) : null}

      {t.stage === "collecting" || t.stage === "selecting" ? <Merge t={t} others={others} acts={acts} back={back} /> : null}
      {acts.dialog}
    </div>
  );
}

/** What a timeline entry says happened; a stage change without a stage is the selection into a consultation. */
function entryTitle(e: TopicPage["timeline"][number]): string {
  if (e.kind !== "stage_advanced") return ct(`bd_tl_${e.kind}` as ConsoleKey);
  return e.stage ? ct("bd_reached", { stage: stageName(e.stage) }) : ct("bd_tl_selected");
}

/** A textarea and its button; cleared once its act is recorded. */
function TextForm({ label, hint, ok, testid, act }: { label: string; hint?: string; ok: string; testid: string; act: (text: string) => Promise<boolean> }) {
  const [text, setText] = useState("");
  return (
    <form
      class="c-form"
      data-testid={testid}
      onSubmit={async (e) => {
        e.preventDefault();
        if (await act(text)) setText("");
      }}
    >
      <label>
        {label}
        {hint ? <span class="c-muted">{hint}</span> : null}
        <textarea rows={3} maxLength={2000} value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid={`${testid}-text`} />
      </label>
      <button type="submit" class="c-primary" data-testid={`${testid}-ok`}>
        {ok}
      </button>
    </form>
  );
}

/** The meetings prepared in the console and not closed, soonest first. */
function SelectMeeting({ topic, meetings, run }: { topic: TopicPage; meetings: Meeting[]; run: Run }) {
  const open = meetings.filter((m) => m.prepared && m.status !== "closed").sort((a, b) => (a.starts_at ?? Infinity) - (b.starts_at ?? Infinity));
  const [chosen, setChosen] = useState("");
  if (open.length === 0) return <p data-testid="bd-no-meetings">{ct("bd_noMeetings")}</p>;
  return (
    <form
      class="c-row"
      data-testid="bd-select"
      onSubmit={(e) => {
        e.preventDefault();
        const m = open.find((m) => m.id === chosen);
        if (m) void run(() => send({ type: "select_into_meeting", topic: topic.id, meeting: m.id }), ct("bd_selected", { meeting: m.title, item: `议题：${topic.title}` }), "consultation");
      }}
    >
      <label>
        {ct("bd_pickMeeting")}
        <select required value={chosen} onChange={(e) => setChosen(e.currentTarget.value)} data-testid="bd-meeting-pick">
          <option value="">{ct("bd_choose")}</option>
          {open.map((m) => (
            <option key={m.id} value={m.id}>
              {m.title}（{when(m)}）
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="c-primary" data-testid="bd-select-ok">
        {ct("bd_select")}
      </button>
    </form>
  );
}

/** Merge this topic, a duplicate, into another (asked first: it cannot be undone). */
function Merge({ t, others, acts, back }: { t: TopicPage; others: TopicSummary[]; acts: Acts; back: (notice?: string) => void }) {
  const [into, setInto] = useState("");
  return (
    <section class="c-card" aria-labelledby="bdm-h">
      <h2 id="bdm-h">{ct("bd_mergeTitle")}</h2>
      <p class="c-muted">{ct("bd_mergeHint")}</p>
      {acts.shown("merge")}
      <form
        class="c-row"
        data-testid="bd-merge"
        onSubmit={async (e) => {
          e.preventDefault();
          const target = others.find((o) => o.id === Number(into));
          if (!target || !confirm(ct("bd_mergeConfirm", { duplicate: t.title, into: target.title }))) return;
          const said = ct("bd_merged", { into: target.title });
          if (await acts.run(() => send({ type: "merge_topic", duplicate: t.id, into: target.id }), said, "merge")) back(said);
        }}
      >
        <label>
          {ct("bd_mergeInto")}
          <select required value={into} onChange={(e) => setInto(e.currentTarget.value)} data-testid="bd-merge-into">
            <option value="">{ct("bd_choose")}</option>
            {others.map((o) => (
              <option key={o.id} value={o.id}>
                {o.title}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" data-testid="bd-merge-ok">
          {ct("bd_merge")}
        </button>
      </form>
    </section>
  );
}

const STATUSES: OutcomeView["status"][] = ["assigned", "handling", "done"];

/** 成果: each with its unit, dates, progress and the form to report on it; a new one. */
function Outcomes({ t, acts }: { t: TopicPage; acts: Acts }) {
  const [title, setTitle] = useState("");
  const [unit, setUnit] = useState("");
  const [due, setDue] = useState("");
  const [review, setReview] = useState("");
  return (
    <section class="c-card" aria-labelledby="bdo-h" data-testid="bd-outcomes">
      <h2 id="bdo-h">{ct("bd_outcomes")}</h2>
      {t.outcomes.length === 0 ? <p class="c-muted">{ct("bd_noOutcomes")}</p> : null}
      <ul class="c-board-list">
        {t.outcomes.map((o) => (
          <OutcomeItem key={o.id} o={o} acts={acts} />
        ))}
      </ul>
      <form
        class="c-form c-bd-new"
        data-testid="bd-new-outcome"
        onSubmit={async (e) => {
          e.preventDefault();
          const made = await acts.run(
            () => send({ type: "create_outcome", topic: t.id, title, unit, due: due || undefined, review: review || undefined }),
            ct("bd_outcomeCreated", { title }),
            "new-outcome",
          );
          if (made) [setTitle, setUnit, setDue, setReview].forEach((f) => f(""));
        }}
      >
        <h3>{ct("bd_newOutcome")}</h3>
        {acts.shown("new-outcome")}
        <div class="c-row c-when">
          <label>
            {ct("bd_outcomeTitle")}
            <input required maxLength={60} value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="bd-outcome-title" />
          </label>
          <label>
            {ct("bd_unit")}
            <input required maxLength={60} value={unit} onInput={(e) => setUnit(e.currentTarget.value)} data-testid="bd-outcome-unit" />
          </label>
        </div>
        <div class="c-row c-when">
          <label>
            {ct("bd_due")}
            <input type="date" value={due} onInput={(e) => setDue(e.currentTarget.value)} data-testid="bd-outcome-due" />
          </label>
          <label>
            {ct("bd_review")}
            <input type="date" value={review} onInput={(e) => setReview(e.currentTarget.value)} data-testid="bd-outcome-review" />
          </label>
        </div>
        <button type="submit" class="c-primary" data-testid="bd-outcome-create">
          {ct("bd_createOutcome")}
        </button>
      </form>
    </section>
  );
}

function Progress({ o }: { o: OutcomeView }) {
  return (
    <div class="c-progress-row">
      <progress max={100} value={o.progress} aria-label={ct("bd_progressOf", { title: o.title })} />
      <strong data-testid="bd-progress">{ct("bd_percent", { n: o.progress })}</strong>
    </div>
  );
}

function OutcomeItem({ o, acts }: { o: OutcomeView; acts: Acts }) {
  const [percent, setPercent] = useState(String(o.progress));
  const [status, setStatus] = useState(o.status);
  const [note, setNote] = useState("");
  return (
    <li data-testid={`bd-outcome-${o.id}`}>
      <strong>{o.title}</strong>
      <span>
        {ct("bd_unitIs", { unit: o.unit })} · {ct(`bd_status_${o.status}` as ConsoleKey)}
        {o.due ? ` · ${ct("bd_dueOn", { day: o.due })}` : ""}
        {o.review ? ` · ${ct("bd_reviewOn", { day: o.review })}` : ""}
      </span>
      <Progress o={o} />
      {acts.shown(`outcome-${o.id}`)}
      {o.timeline.length ? (
        <ol class="c-timeline">
          {o.timeline.map((e) => (
            <li key={e.seq}>
              <span class="c-muted">{localTime(e.at)}</span> {e.text}
            </li>
          ))}
        </ol>
      ) : null}
      <form
        class="c-row c-item"
        data-testid={`bd-progress-form-${o.id}`}
        onSubmit={async (e) => {
          e.preventDefault();
          const n = Number(percent);
          if (await acts.run(() => send({ type: "report_progress", outcome: o.id, percent: n, status, note }), ct("bd_progressReported", { title: o.title, n }), `outcome-${o.id}`)) setNote("");
        }}
      >
        <label class="c-short">
          {ct("bd_percentLabel")}
          <input type="number" min={0} max={100} step={1} required value={percent} onInput={(e) => setPercent(e.currentTarget.value)} data-testid="bd-percent" />
        </label>
        <label class="c-short">
          {ct("bd_statusLabel")}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as OutcomeView["status"])} data-testid="bd-outcome-status">
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {ct(`bd_status_${s}` as ConsoleKey)}
              </option>
            ))}
          </select>
        </label>
        <label class="c-grow">
          {ct("bd_progressNote")}
          <input value={note} maxLength={2000} onInput={(e) => setNote(e.currentTarget.value)} data-testid="bd-progress-note" />
        </label>
        <button type="submit" class="c-primary" data-testid="bd-progress-ok">
          {ct("bd_report")}
        </button>
      </form>
    </li>
  );
}

/** 回头看: outcomes whose review date has come and that were not reviewed yet, as of a
 * day (today by default); the list can become a follow-up meeting (回头看会议). */
function Review() {
  const [data, setData] = useState<{ day: string; outcomes: OutcomeView[] }>();
  const [day, setDay] = useState<string>();
  const [problem, setProblem] = useState<string>();
  const [made, setMade] = useState<Meeting & { outcomes: number[] }>();
  const load = () =>
    boardStaffApi.review(day).then(
      (d) => {
        setData(d);
        setProblem(undefined);
      },
      (e) => setProblem(codeOf(e)),
    );
  useEffect(() => void load(), [day]);
  const acts = useActs(load);
  return (
    <section class="c-card" aria-labelledby="br-h" data-testid="bd-review">
      <h2 id="br-h">{ct("bd_reviewTitle")}</h2>
      <p class="c-muted">{data ? ct("bd_reviewHint", { day: data.day }) : null}</p>
      {data ? (
        <div class="c-row">
          <label class="c-short-field">
            {ct("bd_reviewDay")}
            <input
              type="date"
              value={data.day}
              onChange={(e) => {
                setMade(undefined);
                if (e.currentTarget.value) setDay(e.currentTarget.value);
              }}
              data-testid="bd-review-day"
            />
          </label>
        </div>
      ) : null}
      {acts.shown()}
      {made ? (
        <p class="c-done" role="status" data-testid="bd-follow-up-made">
          {ct("bd_followUpMade", { title: made.title, n: made.agenda.length })}{" "}
          <a href={`#meetings/${made.id}`} data-testid="bd-follow-up-open">
            {ct("bd_followUpOpen", { title: made.title })}
          </a>
        </p>
      ) : null}
      <Problem code={problem} scope="bd" />
      {data && data.outcomes.length === 0 ? <p data-testid="bd-review-empty">{ct("bd_reviewEmpty")}</p> : null}
      {data && data.outcomes.length ? (
        <div class="c-row">
          <button
            type="button"
            class="c-primary"
            onClick={async () => {
              setMade(undefined);
              const ok = await acts.run(async () => setMade(await boardStaffApi.reviewMeeting(data.day)), "", "follow-up");
              if (!ok) setMade(undefined);
            }}
            data-testid="bd-follow-up"
          >
            {ct("bd_followUp")}
          </button>
          <span class="c-muted">{ct("bd_followUpHint")}</span>
        </div>
      ) : null}
      {acts.shown("follow-up")}
      <ul class="c-board-list">
        {data?.outcomes.map((o) => (
          <li key={o.id} data-testid={`bd-review-${o.id}`}>
            <strong>{o.title}</strong>
            <span>
              {ct("bd_unitIs", { unit: o.unit })} · {ct(`bd_status_${o.status}` as ConsoleKey)}
              {o.review ? ` · ${ct("bd_reviewOn", { day: o.review })}` : ""}
            </span>
            <Progress o={o} />
            <button
              type="button"
              class="c-start"
              onClick={() =>
                acts.setAsk({
                  title: ct("bd_reviewAsk", { title: o.title }),
                  hint: ct("bd_reviewAskHint"),
                  label: ct("bd_note"),
                  ok: ct("bd_reviewRecord"),
                  act: (note) => send({ type: "review_outcome", outcome: o.id, note }),
                  said: ct("bd_reviewed", { title: o.title }),
                })
              }
              data-testid={`bd-review-do-${o.id}`}
            >
              {ct("bd_reviewRecord")}
            </button>
          </li>
        ))}
      </ul>
      {acts.dialog}
    </section>
  );
}
