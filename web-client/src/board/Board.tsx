// The public topic board (码上议事), phone first: one screen at a time on hash routes —
// the list (#/), a topic (#/topic/3), raising a topic (#/new), my notices (#/notices),
// and members' studios (#/studios, #/studio/7; in Studio.tsx).
// A visitor reads without an identity; before the first action (support, follow,
// comment, raise a topic) they give a display name, which the server keeps in its cookie.
// Pages are read again after each action (no live updates).
import { signal } from "@preact/signals";
import { useEffect, useRef, useState } from "preact/hooks";
import { reopenLive, unread, useBoardLive } from "./live";
import type { ComponentChildren } from "preact";
import {
  boardApi,
  codeOf,
  STAGES,
  type ListQuery,
  type Notice,
  type OutcomeView,
  type Stage,
  type Stance,
  type TimelineEntry,
  type TopicPage,
  type TopicSummary,
} from "./api";
import { bt, errText, lang, setLang, when, type BoardKey } from "./strings";
import { MeetingRecord } from "./MeetingRecord";
import { StudioList, StudioScreen } from "./Studio";

type Route =
  | { screen: "list" }
  | { screen: "topic"; id: number }
  | { screen: "new" }
  | { screen: "notices" }
  | { screen: "studios" }
  | { screen: "studio"; member: number };

function parseRoute(hash: string): Route {
  const topic = /^#\/topic\/(\d+)/.exec(hash);
  if (topic) return { screen: "topic", id: Number(topic[1]) };
  const studio = /^#\/studio\/(\d+)/.exec(hash);
  if (studio) return { screen: "studio", member: Number(studio[1]) };
  if (hash.startsWith("#/studios")) return { screen: "studios" };
  if (hash.startsWith("#/new")) return { screen: "new" };
  if (hash.startsWith("#/notices")) return { screen: "notices" };
  return { screen: "list" };
}

function useRoute(): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return parseRoute(hash);
}

const NAME_KEY = "yishi.board.name";

/** Who the visitor is on the board: unknown while asking, `null` without an identity. */
export const me = signal<{ name: string } | null | undefined>(undefined);
/** The action waiting for the name prompt. */
const pending = signal<(() => void) | null>(null);

/** Run `action` once the visitor has an identity: at once, or after the name prompt. */
export function withIdentity(action: () => void) {
  if (me.value) return action();
  if (me.value === null) return void (pending.value = action);
  // Still asking the server whether the cookie holds an identity: wait for the answer
  // rather than minting a second identity.
  checkIdentity().then(() => (me.value ? action() : (pending.value = action)));
}

/** Whether the cookie holds an identity (the feed answers only then). */
function checkIdentity(): Promise<void> {
  return boardApi.feed().then(
    () => void (me.value = { name: localStorage.getItem(NAME_KEY) ?? "" }),
    () => void (me.value = null),
  );
}

/** An action refused as unauthorized (the cookie expired): ask for the name again. */
export function identityLost(retry: () => void) {
  me.value = null;
  pending.value = retry;
}

export function Board() {
  const route = useRoute();
  useEffect(() => void checkIdentity(), []);
  document.documentElement.lang = lang.value;
  const here = route.screen;
  return (
    <div class="board">
      <header class="b-top">
        <div class="b-bar-top">
          <a class="b-brand" href="#/">
            {bt("title")}
          </a>
          {me.value?.name ? (
            <span class="b-me" data-testid="me">
              {bt("signedInAs", { name: me.value.name })}
            </span>
          ) : null}
          <button type="button" class="b-lang" lang={lang.value === "en" ? "zh-CN" : "en"} onClick={() => setLang(lang.value === "en" ? "zh-CN" : "en")}>
            {bt("language")}
          </button>
        </div>
        <nav class="b-nav" aria-label={bt("title")}>
          <a href="#/" aria-current={here === "list" ? "page" : undefined} data-testid="nav-list">
            {bt("nav_list")}
          </a>
          <a href="#/new" aria-current={here === "new" ? "page" : undefined} data-testid="nav-new">
            {bt("nav_new")}
          </a>
          <a href="#/notices" aria-current={here === "notices" ? "page" : undefined} data-testid="nav-notices">
            {bt("nav_notices")}
            {unread.value && here !== "notices" ? (
              <span class="b-unread" data-testid="unread">
                {bt("unread")}
              </span>
            ) : null}
          </a>
        </nav>
      </header>
      <main class="b-main" inert={pending.value ? true : undefined}>
        {route.screen === "topic" ? (
          <TopicScreen key={route.id} id={route.id} />
        ) : route.screen === "new" ? (
          <NewTopic />
        ) : route.screen === "notices" ? (
          <Notices />
        ) : route.screen === "studios" ? (
          <StudioList />
        ) : route.screen === "studio" ? (
          <StudioScreen key={route.member} member={route.member} />
        ) : (
          <List />
        )}
      </main>
      {pending.value ? <NamePrompt /> : null}
    </div>
  );
}

/** The screen's heading, focused when the screen opens, and the window's title. */
export function Heading({ text, id }: { text: string; id?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${text} · ${bt("title")}`;
    ref.current?.focus({ preventScroll: false });
  }, [text]);
  return (
    <h1 ref={ref} tabIndex={-1} id={id}>
      {text}
    </h1>
  );
}

/** An error next to what caused it, announced to screen readers. */
export function Problem({ code, testid = "problem" }: { code?: string; testid?: string }) {
  return code ? (
    <p class="b-problem" role="alert" data-testid={testid}>
      {errText(code)}
    </p>
  ) : null;
}

function StageChip({ stage }: { stage: Stage }) {
  return <span class={`b-chip b-stage-${stage}`}>{bt(`stage_${stage}`)}</span>;
}

// ----- the list -----

const listQuery = signal<ListQuery>({});
const facets = signal<{ areas: string[]; categories: string[] }>({ areas: [], categories: [] });

/** The areas and categories of the published topics, the most used first. */
async function loadFacets() {
  const { topics } = await boardApi.topics({ limit: 100 });
  const rank = (values: string[]) => {
    const n = new Map<string, number>();
    for (const v of values) n.set(v, (n.get(v) ?? 0) + 1);
    return [...n.keys()].sort((a, b) => (n.get(b) ?? 0) - (n.get(a) ?? 0) || a.localeCompare(b, "zh-CN"));
  };
  facets.value = { areas: rank(topics.map((t) => t.area)), categories: rank(topics.map((t) => t.category)) };
}

const PAGE = 20;

function List() {
  const q = listQuery.value;
  const [topics, setTopics] = useState<TopicSummary[] | null>(null);
  const [total, setTotal] = useState(0);
  const [problem, setProblem] = useState<string>();
  const [search, setSearch] = useState(q.q ?? "");
  const [more, setMore] = useState(!!(q.area || q.category));
  const load = async (offset = 0) => {
    try {
      const page = await boardApi.topics({ ...q, offset, limit: PAGE });
      setTopics((now) => (offset === 0 ? page.topics : [...(now ?? []), ...page.topics]));
      setTotal(page.total);
      setProblem(undefined);
    } catch (e) {
      setProblem(codeOf(e));
    }
  };
  useEffect(() => void load(), [q.stage, q.area, q.category, q.q]);
  // Live: the topics shown read again (at most every 5 s) when a published one changed.
  const shown = useRef(0);
  shown.current = topics?.length ?? 0;
  const lastRefresh = useRef(0);
  const refreshing = useRef(false);
  useBoardLive((c) => {
    if ((c.topics.length === 0 && !c.all) || refreshing.current) return;
    refreshing.current = true;
    const wait = Math.max(0, lastRefresh.current + 5_000 - Date.now());
    setTimeout(async () => {
      try {
        const page = await boardApi.topics({ ...q, offset: 0, limit: Math.min(100, Math.max(PAGE, shown.current)) });
        setTopics(page.topics);
        setTotal(page.total);
      } catch {
        // The next change tries again; the list shown stays.
      }
      lastRefresh.current = Date.now();
      refreshing.current = false;
    }, wait);
  });
  useEffect(() => void loadFacets().catch(() => undefined), []);
  const set = (change: Partial<ListQuery>) => (listQuery.value = { ...listQuery.value, ...change });
  const filtered = !!(q.stage || q.area || q.category || q.q);
  return (
    <div class="b-screen" data-testid="list">
      <Heading text={bt("list_title")} />
      <p class="b-hint">{bt("list_hint")}</p>
      <a class="b-button b-studios-link" href="#/studios" data-testid="studios-link">
        {bt("studios_link")}
      </a>
      <form
        class="b-search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set({ q: search.trim() || undefined });
        }}
      >
        <label for="b-q" class="b-visually-hidden">
          {bt("search")}
        </label>
        <input id="b-q" type="search" placeholder={bt("search")} value={search} onInput={(e) => setSearch(e.currentTarget.value)} data-testid="search" />
        <button type="submit" class="b-primary" data-testid="search-go">
          {bt("search_go")}
        </button>
      </form>
      <Chips label={bt("filter_stage")} value={q.stage} options={STAGES.map((s) => [s, bt(`stage_${s}`)])} onPick={(v) => set({ stage: v as Stage | undefined })} testid="stage" />
      {facets.value.areas.length > 1 || facets.value.categories.length > 1 ? (
        <details class="b-more" open={more} onToggle={(e) => setMore(e.currentTarget.open)} data-testid="more-filters">
          <summary>{bt("filter_more")}</summary>
          {facets.value.areas.length > 1 ? (
            <Chips label={bt("filter_area")} value={q.area} options={facets.value.areas.map((a) => [a, a])} onPick={(v) => set({ area: v })} testid="area" />
          ) : null}
          {facets.value.categories.length > 1 ? (
            <Chips label={bt("filter_category")} value={q.category} options={facets.value.categories.map((c) => [c, c])} onPick={(v) => set({ category: v })} testid="category" />
          ) : null}
        </details>
      ) : null}
      <Problem code={problem} />
      {topics === null ? (
        problem ? null : <p>{bt("loading")}</p>
      ) : (
        <>
          <p class="b-count" role="status" data-testid="list-count">
            {q.q ? bt("searched", { q: q.q, n: total }) : bt("total", { n: total })}
            {q.q ? (
              <button
                type="button"
                class="b-link"
                onClick={() => {
                  setSearch("");
                  set({ q: undefined });
                }}
              >
                {bt("search_clear")}
              </button>
            ) : null}
          </p>
          {topics.length === 0 ? <p class="b-empty">{filtered ? bt("no_match") : bt("empty")}</p> : null}
          <ul class="b-cards" data-testid="topics">
            {topics.map((t) => (
              <li key={t.id}>
                <a class="b-card" href={`#/topic/${t.id}`} data-testid={`topic-${t.id}`}>
                  <span class="b-card-title">{t.title}</span>
                  <span class="b-card-meta">
                    <StageChip stage={t.stage} />
                    <span>{bt("area_category", { area: t.area, category: t.category })}</span>
                  </span>
                  <span class="b-card-counts">
                    <strong>{bt("supports_n", { n: t.supports })}</strong>
                    <span>{bt("comments_n", { n: t.comments })}</span>
                  </span>
                </a>
              </li>
            ))}
          </ul>
          {topics.length < total ? (
            <button type="button" class="b-wide" onClick={() => load(topics.length)}>
              {bt("more")}
            </button>
          ) : null}
        </>
      )}
    </div>
  );
}

/** One row of filter chips: 全部 and each option; the chosen one pressed. */
function Chips({ label, value, options, onPick, testid }: { label: string; value?: string; options: [string, string][]; onPick: (v?: string) => void; testid: string }) {
  return (
    <div class="b-chips" role="group" aria-label={label} data-testid={`chips-${testid}`}>
      <span class="b-chips-label" aria-hidden="true">
        {label}
      </span>
      {([[undefined, bt("all")], ...options] as [string | undefined, string][]).map(([v, text]) => (
        <button key={v ?? ""} type="button" class="b-filter" aria-pressed={value === v} onClick={() => onPick(v)}>
          {text}
        </button>
      ))}
    </div>
  );
}

// ----- a topic -----

function TopicScreen({ id }: { id: number }) {
  const [topic, setTopic] = useState<TopicPage | null>(null);
  const [problem, setProblem] = useState<string>();
  const load = async () => {
    try {
      setTopic(await boardApi.topic(id));
      setProblem(undefined);
    } catch (e) {
      setProblem(codeOf(e));
    }
  };
  useEffect(() => void load(), [id, me.value === null]);
  useBoardLive((c) => {
    if (c.all || c.topics.includes(id)) void load();
  });
  if (!topic)
    return (
      <div class="b-screen">
        <a class="b-back" href="#/">
          {bt("back")}
        </a>
        {problem ? <Problem code={problem} /> : <p>{bt("loading")}</p>}
      </div>
    );
  return (
    <article class="b-screen" data-testid="topic">
      <a class="b-back" href="#/">
        {bt("back")}
      </a>
      <Heading text={topic.title} />
      <p class="b-card-meta">
        <StageChip stage={topic.stage} />
        <span>{bt("area_category", { area: topic.area, category: topic.category })}</span>
      </p>
      <p class="b-muted">{bt("raised_by", { name: topic.author_name, when: when(topic.submitted_at) })}</p>
      <p class="b-text" data-testid="topic-text">
        {topic.text}
      </p>
      {topic.merged_into !== null ? (
        <p class="b-note" data-testid="merged">
          {bt("merged_into")}{" "}
          <a href={`#/topic/${topic.merged_into}`}>{bt("merged_go")}</a>
        </p>
      ) : null}
      <SupportPanel topic={topic} reload={load} />
      <Progress topic={topic} />
      {topic.opinion ? (
        <section class="b-section b-opinion" aria-labelledby="opinion-h" data-testid="opinion">
          <h2 id="opinion-h">{bt("opinion_title")}</h2>
          <p class="b-text">{topic.opinion}</p>
        </section>
      ) : null}
      {topic.in_meeting ? <MeetingRecord m={topic.in_meeting} level={2} /> : null}
      {topic.outcomes.length ? <Outcomes outcomes={topic.outcomes} /> : null}
      <Comments topic={topic} reload={load} />
    </article>
  );
}

function SupportPanel({ topic, reload }: { topic: TopicPage; reload: () => Promise<void> }) {
  const [problem, setProblem] = useState<string>();
  const [done, setDone] = useState<string>();
  const [busy, setBusy] = useState(false);
  const open = (topic.stage === "collecting" || topic.stage === "selecting") && topic.merged_into === null;
  const supported = !!topic.me?.supports;
  const follows = !!topic.me?.follows;
  const act = (type: "support" | "follow" | "unfollow", said: BoardKey) => {
    const run = async () => {
      setBusy(true);
      setDone(undefined);
      try {
        await boardApi.command({ type, topic: topic.id });
        setProblem(undefined);
        setDone(bt(said));
      } catch (e) {
        const code = codeOf(e);
        if (code === "unauthorized") identityLost(run);
        setProblem(code);
      } finally {
        setBusy(false);
        await reload();
      }
    };
    withIdentity(run);
  };
  return (
    <section class="b-section b-support" aria-label={bt("support")} data-testid="support-panel">
      <p class="b-supports">
        <strong data-testid="supports">{topic.supports}</strong>
        <span>{bt("supports_n", { n: "" }).trim()}</span>
      </p>
      {open ? (
        <>
          <button type="button" class="b-primary b-huge" disabled={supported || busy} onClick={() => act("support", "support_done")} data-testid="support">
            {supported ? `✓ ${bt("supported")}` : bt("support")}
          </button>
          {supported ? null : <p class="b-muted">{bt("support_hint")}</p>}
        </>
      ) : (
        <p class="b-muted">{bt("support_closed")}</p>
      )}
      <button
        type="button"
        class="b-wide"
        aria-pressed={follows}
        disabled={busy}
        onClick={() => (follows ? act("unfollow", "unfollowed") : act("follow", "followed"))}
        data-testid="follow"
      >
        {follows ? bt("unfollow") : bt("follow")}
      </button>
      <p class="b-muted">{bt("followers_n", { n: topic.followers })}</p>
      <p class="b-ok" role="status" data-testid="support-status">
        {done ?? ""}
      </p>
      <Problem code={problem} testid="support-problem" />
    </section>
  );
}

/** The workflow's five stages, the reached ones dated, then the dated public timeline. */
function Progress({ topic }: { topic: TopicPage }) {
  const reached = STAGES.indexOf(topic.stage);
  const dated = (s: Stage) => {
    const entry = s === "collecting" ? topic.timeline.find((e) => e.kind === "published") : topic.timeline.find((e) => e.stage === s);
    return entry ? when(entry.at) : "";
  };
  return (
    <section class="b-section" aria-labelledby="progress-h" data-testid="progress">
      <h2 id="progress-h">{bt("progress_title")}</h2>
      <ol class="b-steps">
        {STAGES.map((s, i) => (
          <li key={s} class={i < reached ? "b-step-past" : i === reached ? "b-step-now" : "b-step-next"} aria-current={i === reached ? "step" : undefined}>
            <span class="b-step-mark" aria-hidden="true">
              {i <= reached ? "✓" : i + 1}
            </span>
            <span class="b-step-name">{bt(`stage_${s}`)}</span>
            {i <= reached ? <span class="b-step-when">{dated(s)}</span> : null}
          </li>
        ))}
      </ol>
      {topic.timeline.length ? (
        <>
          <h3>{bt("timeline_title")}</h3>
          <Timeline entries={topic.timeline} testid="timeline" />
        </>
      ) : null}
    </section>
  );
}

/** What a timeline entry says happened; a stage change without a stage is the selection into a consultation. */
function entryTitle(e: TimelineEntry): string {
  if (e.kind !== "stage_advanced") return bt(`tl_${e.kind}`);
  return e.stage ? bt("tl_stage_advanced", { stage: bt(`stage_${e.stage}`) }) : bt("tl_selected");
}

function Timeline({ entries, testid }: { entries: TimelineEntry[]; testid: string }) {
  return (
    <ol class="b-timeline" data-testid={testid}>
      {entries.map((e) => (
        <li key={e.seq}>
          <span class="b-when">{when(e.at)}</span>
          <strong>{entryTitle(e)}</strong>
          {e.text ? <span class="b-text">{e.text}</span> : null}
        </li>
      ))}
    </ol>
  );
}

function Outcomes({ outcomes }: { outcomes: OutcomeView[] }) {
  // Children right under their parent.
  const top = outcomes.filter((o) => o.parent === null || !outcomes.some((p) => p.id === o.parent));
  const ordered = top.flatMap((o) => [o, ...outcomes.filter((c) => c.parent === o.id)]);
  return (
    <section class="b-section" aria-labelledby="outcomes-h" data-testid="outcomes">
      <h2 id="outcomes-h">{bt("outcomes_title")}</h2>
      <ul class="b-outcomes">
        {ordered.map((o) => (
          <li key={o.id} class={o.parent !== null ? "b-child" : ""}>
            <h3>{o.title}</h3>
            <p class="b-card-meta">
              <span class={`b-chip b-outcome-${o.status}`}>{bt(`outcome_${o.status}`)}</span>
              <span>{bt("outcome_unit", { unit: o.unit })}</span>
            </p>
            <div class="b-progress">
              <div class="b-track" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={o.progress} aria-label={o.title}>
                <span style={{ width: `${o.progress}%` }} />
              </div>
              <strong data-testid="outcome-progress">{bt("outcome_progress", { n: o.progress })}</strong>
            </div>
            <p class="b-muted">
              {[o.due ? bt("outcome_due", { day: o.due }) : "", o.reviewed ? bt("outcome_reviewed", { day: o.reviewed }) : o.review ? bt("outcome_review", { day: o.review }) : ""]
                .filter(Boolean)
                .join("　")}
            </p>
            {o.timeline.length ? <Timeline entries={o.timeline} testid={`outcome-${o.id}-timeline`} /> : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Comments({ topic, reload }: { topic: TopicPage; reload: () => Promise<void> }) {
  const [text, setText] = useState("");
  const [stance, setStance] = useState<Stance | "">("");
  const [problem, setProblem] = useState<string>();
  const [sent, setSent] = useState(false);
  const open = topic.merged_into === null;
  const send = async () => {
    try {
      await boardApi.command({ type: "post_comment", topic: topic.id, text, ...(stance ? { stance } : {}) });
      setProblem(undefined);
      setSent(true);
      setText("");
      setStance("");
      await reload();
    } catch (e) {
      const code = codeOf(e);
      if (code === "unauthorized") identityLost(send);
      setProblem(code);
    }
  };
  return (
    <section class="b-section" aria-labelledby="comments-h" data-testid="comments">
      <h2 id="comments-h">{bt("comments_title", { n: topic.comments.length })}</h2>
      {topic.comments.length === 0 ? <p class="b-muted">{bt("no_comments")}</p> : null}
      <ul class="b-comments" data-testid="comment-list">
        {topic.comments.map((c) => (
          <li key={c.id} class={c.official ? "b-official" : ""} data-testid={c.official ? "official" : "comment"}>
            <p class="b-comment-head">
              {c.official ? <span class="b-chip b-chip-official">{bt("official")}</span> : null}
              {c.stance ? <span class={`b-chip b-stance-${c.stance}`}>{bt(`stance_${c.stance}`)}</span> : null}
              <strong>{c.official ? bt("official_by") : c.author_name}</strong>
              <span class="b-when">{when(c.at)}</span>
            </p>
            <p class="b-text">{c.text}</p>
          </li>
        ))}
      </ul>
      {open ? (
        <form
          class="b-form"
          data-testid="comment-form"
          onSubmit={(e) => {
            e.preventDefault();
            setSent(false);
            withIdentity(send);
          }}
        >
          <h3>{bt("comment_new")}</h3>
          <fieldset class="b-stances">
            <legend>{bt("comment_stance")}</legend>
            {(["for", "against", "suggestion", ""] as const).map((s) => (
              <label key={s} class="b-choice">
                <input type="radio" name="stance" checked={stance === s} onChange={() => setStance(s)} data-testid={`stance-${s || "none"}`} />
                {s ? bt(`stance_${s}`) : bt("stance_none")}
              </label>
            ))}
          </fieldset>
          <label>
            {bt("comment_text")}
            <textarea rows={4} maxLength={2000} required value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="comment-text" />
          </label>
          <p class="b-muted">{bt("comment_review")}</p>
          <Problem code={problem} testid="comment-problem" />
          <button type="submit" class="b-primary b-wide" data-testid="comment-send">
            {bt("comment_send")}
          </button>
          <p class="b-ok b-done" role="status" data-testid="comment-status" hidden={!sent}>
            {sent ? bt("comment_sent") : ""}
          </p>
        </form>
      ) : null}
    </section>
  );
}

// ----- raising a topic -----

function Counted({ label, max, children, n }: { label: string; max: number; n: number; children: ComponentChildren }) {
  return (
    <label>
      {label}
      {children}
      <span class="b-muted b-small">{bt("chars", { n, max })}</span>
    </label>
  );
}

const DEFAULT_CATEGORIES = ["交通出行", "社区治理", "养老服务", "教育", "医疗卫生", "生态环境", "住房物业", "其他"];

function NewTopic() {
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [area, setArea] = useState("");
  const [category, setCategory] = useState("");
  const [problem, setProblem] = useState<string>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const doneRef = useRef<HTMLDivElement>(null);
  useEffect(() => void loadFacets().catch(() => undefined), []);
  useEffect(() => {
    if (done) doneRef.current?.focus();
  }, [done]);
  const send = async () => {
    setBusy(true);
    try {
      await boardApi.command({ type: "submit_topic", title, text, area, category });
      setProblem(undefined);
      setDone(true);
    } catch (e) {
      const code = codeOf(e);
      if (code === "unauthorized") identityLost(send);
      setProblem(code);
    } finally {
      setBusy(false);
    }
  };
  if (done)
    return (
      <div class="b-screen">
        <Heading text={bt("new_title")} />
        <div class="b-confirm" role="status" tabIndex={-1} ref={doneRef} data-testid="submitted">
          <p class="b-confirm-big">✓ {bt("submitted")}</p>
          <p>{bt("submitted_hint")}</p>
        </div>
        <a class="b-button b-primary" href="#/">
          {bt("back")}
        </a>
        <button
          type="button"
          class="b-wide"
          onClick={() => {
            setTitle("");
            setText("");
            setDone(false);
          }}
        >
          {bt("submit_another")}
        </button>
      </div>
    );
  const categories = [...new Set([...facets.value.categories, ...DEFAULT_CATEGORIES])].slice(0, 10);
  return (
    <div class="b-screen">
      <Heading text={bt("new_title")} />
      <p class="b-hint">{bt("new_hint")}</p>
      <form
        class="b-form"
        data-testid="new-topic"
        onSubmit={(e) => {
          e.preventDefault();
          withIdentity(send);
        }}
      >
        <Counted label={bt("f_title")} max={60} n={[...title].length}>
          <input required maxLength={60} value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="f-title" />
        </Counted>
        <Counted label={bt("f_text")} max={2000} n={[...text].length}>
          <textarea required rows={6} maxLength={2000} value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="f-text" />
        </Counted>
        <label>
          {bt("f_area")}
          <input required maxLength={40} list="b-areas" value={area} onInput={(e) => setArea(e.currentTarget.value)} data-testid="f-area" />
        </label>
        <datalist id="b-areas">
          {facets.value.areas.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <fieldset class="b-pick">
          <legend>{bt("f_category")}</legend>
          <div class="b-chips">
            {categories.map((c) => (
              <button key={c} type="button" class="b-filter" aria-pressed={category === c} onClick={() => setCategory(c)}>
                {c}
              </button>
            ))}
          </div>
          <label>
            <span class="b-own">{bt("f_own")}</span>
            <input required maxLength={20} value={category} onInput={(e) => setCategory(e.currentTarget.value)} data-testid="f-category" />
          </label>
        </fieldset>
        <Problem code={problem} testid="submit-problem" />
        <button type="submit" class="b-primary b-wide" disabled={busy} data-testid="f-submit">
          {bt("submit")}
        </button>
      </form>
    </div>
  );
}

// ----- my notices -----

function Notices() {
  const [notices, setNotices] = useState<Notice[] | null>(null);
  const [problem, setProblem] = useState<string>();
  const [fresh, setFresh] = useState(0);
  useEffect(() => void (unread.value = false));
  useBoardLive((c) => {
    if (c.notices || c.all) setFresh((n) => n + 1);
  });
  useEffect(() => {
    if (me.value === undefined) return;
    if (me.value === null) return setNotices([]);
    boardApi.feed().then(
      (f) => setNotices(f.notices),
      (e) => {
        if (codeOf(e) === "unauthorized") {
          me.value = null;
          setNotices([]);
        } else setProblem(codeOf(e));
      },
    );
  }, [me.value === null, me.value === undefined, fresh]);
  return (
    <div class="b-screen" data-testid="notices">
      <Heading text={bt("notices_title")} />
      <Problem code={problem} />
      {notices === null ? (
        problem ? null : <p>{bt("loading")}</p>
      ) : notices.length === 0 ? (
        <p class="b-empty">{me.value ? bt("notices_empty") : bt("notices_none_yet")}</p>
      ) : (
        <ul class="b-notices" data-testid="notice-list">
          {notices.map((n) => (
            <li key={`${n.seq}-${n.kind}`} class={`b-notice b-notice-${n.kind}`}>
              <p class="b-notice-kind">{bt(`n_${n.kind}`)}</p>
              <p class="b-notice-topic">{n.topic_title}</p>
              {n.text ? <p class="b-text">{n.kind === "rejected" || n.kind === "message_rejected" ? bt("n_reason", { text: n.text }) : n.text}</p> : null}
              <p class="b-notice-foot">
                <span class="b-when">{when(n.at)}</span>
                {n.studio !== undefined ? (
                  <a class="b-button" href={`#/studio/${n.studio}`}>
                    {bt("open_studio")}
                  </a>
                ) : n.kind === "rejected" || n.topic === null ? null : (
                  <a class="b-button" href={`#/topic/${n.topic}`}>
                    {bt("open_topic")}
                  </a>
                )}
              </p>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

// ----- the name prompt -----

function NamePrompt() {
  const [name, setName] = useState("");
  const [problem, setProblem] = useState<string>();
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const close = () => (pending.value = null);
  return (
    <div class="b-overlay">
      <form
        class="b-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="id-h"
        data-testid="name-prompt"
        onKeyDown={(e) => {
          if (e.key === "Escape") close();
        }}
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const who = await boardApi.identity(name.trim());
            localStorage.setItem(NAME_KEY, who.name);
            me.value = { name: who.name };
            reopenLive();
            const then = pending.value;
            pending.value = null;
            then?.();
          } catch (err) {
            setProblem(codeOf(err));
          }
        }}
      >
        <h2 id="id-h">{bt("id_title")}</h2>
        <p>{bt("id_hint")}</p>
        <label>
          {bt("id_name")}
          <input ref={input} required maxLength={32} autocomplete="nickname" value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="id-name" />
        </label>
        {problem ? (
          <p class="b-problem" role="alert" data-testid="id-problem">
            {problem === "invalid_argument" ? bt("id_bad") : errText(problem)}
          </p>
        ) : null}
        <div class="b-row">
          <button type="submit" class="b-primary" data-testid="id-ok">
            {bt("id_ok")}
          </button>
          <button type="button" onClick={close}>
            {bt("id_cancel")}
          </button>
        </div>
      </form>
    </div>
  );
}
