// Members' studios (委员网上工作室) on the public board: the list of studios (#/studios)
// and a studio's page (#/studio/7): the member's header (photo or initials, name, sector,
// topics of interest, a QR code of the page), the published messages with their public
// replies, and a form to leave a message (shown after review). With an identity, the
// page also shows what the visitor left there, private replies included; the studio's own
// member gets their inbox with a reply form under each message. The studio's duty slots
// (会客时间) are listed with their time in words; from a few minutes before the start until
// the end a slot offers 进入会客室 (the anonymous audience link, which the server gives
// only then), and the member's inbox offers 主持会客 (a host link for them).
import { useEffect, useState } from "preact/hooks";
import { boardApi, codeOf, studioQr, type DutyView, type MessageView, type PublicMessage, type Reply, type StudioPage, type StudioSummary } from "./api";
import { Heading, identityLost, me, Problem, withIdentity } from "./Board";
import { useBoardLive } from "./live";
import { bt, clock, slotTime, when } from "./strings";

/** The member's photo, or the first character of their name in a circle. */
function Portrait({ name, photo, big }: { name: string; photo: string | null; big?: boolean }) {
  const [failed, setFailed] = useState(false);
  const cls = big ? "b-portrait b-portrait-big" : "b-portrait";
  return photo && !failed ? (
    <img class={cls} src={photo} alt="" onError={() => setFailed(true)} />
  ) : (
    <span class={`${cls} b-initials`} aria-hidden="true">
      {[...name][0] ?? "?"}
    </span>
  );
}

export function StudioList() {
  const [studios, setStudios] = useState<StudioSummary[] | null>(null);
  const [problem, setProblem] = useState<string>();
  useEffect(() => {
    boardApi.studios().then(
      (s) => setStudios(s.studios),
      (e) => setProblem(codeOf(e)),
    );
  }, []);
  return (
    <div class="b-screen" data-testid="studios">
      <a class="b-back" href="#/">
        {bt("back")}
      </a>
      <Heading text={bt("studios_title")} />
      <p class="b-hint">{bt("studios_hint")}</p>
      <Problem code={problem} />
      {studios === null ? (
        problem ? null : <p>{bt("loading")}</p>
      ) : studios.length === 0 ? (
        <p class="b-empty">{bt("studios_empty")}</p>
      ) : (
        <ul class="b-cards">
          {studios.map((s) => (
            <li key={s.member}>
              <a class="b-card b-studio-card" href={`#/studio/${s.member}`} data-testid={`studio-${s.member}`}>
                <Portrait name={s.name} photo={s.photo} />
                <span class="b-studio-who">
                  <span class="b-card-title">{s.name}</span>
                  {s.sector ? <span class="b-muted">{bt("studio_sector", { sector: s.sector })}</span> : null}
                  {s.interests.length ? <span>{s.interests.join("、")}</span> : null}
                  <span class="b-muted">{bt("studio_counts", { n: s.messages, r: s.replied })}</span>
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Replies({ replies, testid }: { replies: Reply[]; testid: string }) {
  return replies.length ? (
    <ul class="b-replies">
      {replies.map((r, i) => (
        <li key={i} class={r.public ? "" : "b-private"} data-testid={r.public ? `${testid}-public` : `${testid}-private`}>
          <p class="b-comment-head">
            {r.public ? null : <span class="b-chip b-chip-private">{bt("reply_private")}</span>}
            <strong>{r.by_staff ? bt("reply_by_staff") : bt("reply_by", { name: r.by_name })}</strong>
            <span class="b-when">{when(r.at)}</span>
          </p>
          <p class="b-text">{r.text}</p>
        </li>
      ))}
    </ul>
  ) : null;
}

function MessageBody({ m }: { m: PublicMessage | MessageView }) {
  return (
    <>
      {m.title ? <h3>{m.title}</h3> : null}
      <p class="b-text">{m.text}</p>
      <p class="b-muted">
        {m.sender_name} · {when("published_at" in m ? (m.published_at ?? m.at) : m.at)}
      </p>
      {m.topic !== null ? (
        <p>
          <span class="b-chip b-stage-consulted">{bt("msg_topic")}</span>{" "}
          <a href={`#/topic/${m.topic}`}>{bt("open_topic")}</a>
        </p>
      ) : null}
      {("reported" in m ? m.reported : m.report !== null) ? (
        <p>
          <span class="b-chip b-stage-handling" data-testid="msg-reported">
            {bt("msg_reported")}
          </span>
        </p>
      ) : null}
    </>
  );
}

export function StudioScreen({ member }: { member: number }) {
  const [page, setPage] = useState<StudioPage | null>(null);
  const [problem, setProblem] = useState<string>();
  const load = async () => {
    try {
      setPage(await boardApi.studio(member));
      setProblem(undefined);
    } catch (e) {
      setProblem(codeOf(e));
    }
  };
  useEffect(() => void load(), [member, me.value === null, me.value === undefined]);
  useBoardLive((c) => {
    if (c.all || c.studios.includes(member)) void load();
  });
  // Read the page again when a slot's room opens, starts or ends (a page left open).
  useEffect(() => {
    const now = Date.now();
    const next = Math.min(...(page?.slots ?? []).flatMap((s) => [s.opens_at, s.starts_at, s.ends_at]).filter((t) => t > now));
    if (!Number.isFinite(next)) return;
    const timer = setTimeout(() => void load(), Math.min(next - now + 1000, 3_600_000));
    return () => clearTimeout(timer);
  }, [page]);
  if (!page)
    return (
      <div class="b-screen">
        <a class="b-back" href="#/studios">
          {bt("studio_back")}
        </a>
        {problem === "not_found" ? (
          <p class="b-problem" role="alert" data-testid="problem">
            {bt("studio_not_found")}
          </p>
        ) : problem ? (
          <Problem code={problem} />
        ) : (
          <p>{bt("loading")}</p>
        )}
      </div>
    );
  const mine = page.me?.messages ?? [];
  const overdue = new Set((page.me?.overdue ?? []).map((m) => m.id));
  return (
    <article class="b-screen" data-testid="studio">
      <a class="b-back" href="#/studios">
        {bt("studio_back")}
      </a>
      <header class="b-section b-studio-head">
        <div class="b-studio-id">
          <Portrait name={page.name} photo={page.photo} big />
          <div>
            <Heading text={page.name} />
            {page.sector ? <p class="b-muted">{bt("studio_sector", { sector: page.sector })}</p> : null}
          </div>
        </div>
        {page.interests.length ? (
          <div class="b-interests">
            <span class="b-chips-label">{bt("studio_interests")}</span>
            <ul class="b-chips" data-testid="interests">
              {page.interests.map((i) => (
                <li key={i} class="b-chip b-interest">
                  {i}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        <p>{bt("studio_deadline", { n: page.deadline_days })}</p>
        <figure class="b-qr">
          <img src={studioQr(member)} alt={bt("studio_qr_alt")} width={160} height={160} data-testid="studio-qr" />
          <figcaption class="b-muted">{bt("studio_qr")}</figcaption>
        </figure>
      </header>
      {page.me?.inbox ? (
        <Inbox inbox={page.me.inbox} overdue={overdue} reload={load} open={page.slots.filter((s) => s.phase === "opening" || s.phase === "live")} />
      ) : null}
      {page.slots.length ? <DutySlots member={member} slots={page.slots} host={!!page.me?.inbox} /> : null}
      {mine.length ? (
        <section class="b-section" aria-labelledby="mine-h" data-testid="my-messages">
          <h2 id="mine-h">{bt("mine_title")}</h2>
          <ul class="b-messages">
            {mine.map((m) => (
              <li key={m.id} data-testid={`mine-${m.id}`}>
                <p>
                  {m.moderation.state === "pending" ? (
                    <span class="b-chip b-stage-collecting">{bt("mine_pending")}</span>
                  ) : m.moderation.state === "published" ? (
                    <span class="b-chip b-stance-for">{bt("mine_published")}</span>
                  ) : (
                    <span class="b-chip b-stance-against">{bt("mine_rejected")}</span>
                  )}
                </p>
                <MessageBody m={m} />
                {m.moderation.state === "rejected" ? <p class="b-problem">{bt("n_reason", { text: m.moderation.reason })}</p> : null}
                {m.moderation.state === "published" && m.replies.length === 0 ? <p class="b-muted">{bt("no_reply_yet")}</p> : null}
                <Replies replies={m.replies} testid="mine-reply" />
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {/* The member does not leave messages in their own studio. */}
      {page.me?.inbox ? null : <LeaveMessage member={member} reload={load} />}
      <section class="b-section" aria-labelledby="msgs-h" data-testid="messages">
        <h2 id="msgs-h">{bt("msgs_title", { n: page.messages.length })}</h2>
        {page.messages.length === 0 ? <p class="b-muted">{bt("msgs_none")}</p> : null}
        <ul class="b-messages">
          {page.messages.map((m) => (
            <li key={m.id} data-testid={`message-${m.id}`}>
              <MessageBody m={m} />
              <Replies replies={m.replies} testid="reply" />
            </li>
          ))}
        </ul>
      </section>
    </article>
  );
}

function LeaveMessage({ member, reload }: { member: number; reload: () => Promise<void> }) {
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string>();
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const send = async () => {
    setBusy(true);
    try {
      await boardApi.command({ type: "post_message", member, text, ...(title.trim() ? { title } : {}) });
      setProblem(undefined);
      setSent(true);
      setTitle("");
      setText("");
      await reload();
    } catch (e) {
      const code = codeOf(e);
      if (code === "unauthorized") identityLost(send);
      setProblem(code);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="b-section b-form"
      data-testid="message-form"
      onSubmit={(e) => {
        e.preventDefault();
        setSent(false);
        withIdentity(send);
      }}
    >
      <h2>{bt("msg_new")}</h2>
      <label>
        {bt("msg_title_f")}
        <input maxLength={60} value={title} onInput={(e) => setTitle(e.currentTarget.value)} data-testid="msg-title" />
      </label>
      <label>
        {bt("msg_text_f")}
        <textarea rows={5} maxLength={2000} required value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="msg-text" />
        <span class="b-muted b-small">{bt("chars", { n: [...text].length, max: 2000 })}</span>
      </label>
      <p class="b-note">{bt("msg_review")}</p>
      <Problem code={problem} testid="msg-problem" />
      <button type="submit" class="b-primary b-wide" disabled={busy} data-testid="msg-send">
        {bt("msg_send")}
      </button>
      <p class="b-ok b-done" role="status" data-testid="msg-status" hidden={!sent}>
        {sent ? bt("msg_sent") : ""}
      </p>
    </form>
  );
}

/** Go to a duty room by the link the server gives now (refused before the room opens). */
function DutyButton({ member, slot, host }: { member: number; slot: DutyView; host: boolean }) {
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const go = async () => {
    setBusy(true);
    try {
      const { link } = host ? await boardApi.dutyHost(member, slot.id) : await boardApi.dutyAudience(member, slot.id);
      location.assign(link);
    } catch (e) {
      const code = codeOf(e);
      if (code === "unauthorized") identityLost(go);
      setProblem(code);
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="b-primary b-wide" disabled={busy} onClick={() => void go()} data-testid={host ? `duty-host-${slot.id}` : `duty-enter-${slot.id}`}>
        {host ? bt("duty_host") : bt("duty_enter")}
      </button>
      <Problem code={problem} testid="duty-problem" />
    </>
  );
}

/** The studio's duty slots (会客时间): when, what, and the way in when the room is open. */
function DutySlots({ member, slots, host }: { member: number; slots: DutyView[]; host: boolean }) {
  return (
    <section class="b-section" aria-labelledby="duty-h" data-testid="duty">
      <h2 id="duty-h">{bt("duty_title")}</h2>
      {host ? null : <p class="b-muted">{bt("duty_hint")}</p>}
      <ul class="b-messages">
        {slots.map((s) => {
          const open = s.phase === "opening" || s.phase === "live";
          return (
            <li key={s.id} data-testid={`duty-${s.id}`}>
              <h3>{s.title}</h3>
              <p>
                {slotTime(s.starts_at, s.ends_at)}{" "}
                <span class={`b-chip ${s.phase === "live" ? "b-stance-for" : open ? "b-stage-collecting" : "b-muted"}`} data-testid="duty-phase">
                  {s.phase === "live" ? bt("duty_live") : open ? bt("duty_opening") : bt("duty_upcoming", { time: clock(s.opens_at) })}
                </span>
              </p>
              {open && !host ? <DutyButton member={member} slot={s} host={false} /> : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The member's own inbox: every published message with every reply, and a reply form;
 * 主持会客 on top while one of their duty slots is open. */
function Inbox({ inbox, overdue, reload, open }: { inbox: MessageView[]; overdue: Set<number>; reload: () => Promise<void>; open: DutyView[] }) {
  return (
    <section class="b-section b-inbox" aria-labelledby="inbox-h" data-testid="inbox">
      <h2 id="inbox-h">{bt("inbox_title")}</h2>
      {open.map((s) => (
        <div key={s.id} class="b-note" role="status" data-testid={`duty-now-${s.id}`}>
          <p>
            <strong>{bt("duty_host_hint", { title: s.title })}</strong> {slotTime(s.starts_at, s.ends_at)}
          </p>
          <DutyButton member={s.member} slot={s} host />
        </div>
      ))}
      {inbox.length === 0 ? <p class="b-muted">{bt("inbox_empty")}</p> : null}
      <ul class="b-messages">
        {inbox.map((m) => (
          <li key={m.id} data-testid={`inbox-${m.id}`}>
            <MessageBody m={m} />
            {m.replies.length === 0 && m.due !== null ? (
              <p class={overdue.has(m.id) ? "b-problem" : "b-note"}>{overdue.has(m.id) ? bt("inbox_overdue") : bt("inbox_due", { when: when(m.due) })}</p>
            ) : null}
            <Replies replies={m.replies} testid="inbox-reply" />
            <ReplyForm message={m.id} reload={reload} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function ReplyForm({ message, reload }: { message: number; reload: () => Promise<void> }) {
  const [shown, setShown] = useState(false);
  const [text, setText] = useState("");
  const [open, setOpen] = useState<boolean | null>(null);
  const [problem, setProblem] = useState<string>();
  const send = async () => {
    try {
      await boardApi.command({ type: "reply_message", message, text, public: open === true });
      setProblem(undefined);
      setText("");
      setOpen(null);
      setShown(false);
      await reload();
    } catch (e) {
      const code = codeOf(e);
      if (code === "unauthorized") identityLost(send);
      setProblem(code);
    }
  };
  if (!shown)
    return (
      <button type="button" class="b-wide" onClick={() => setShown(true)} data-testid={`reply-open-${message}`}>
        {bt("reply_open")}
      </button>
    );
  return (
    <form
      class="b-form b-reply-form"
      data-testid={`reply-form-${message}`}
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <label>
        {bt("reply_f")}
        <textarea rows={3} maxLength={2000} required value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="reply-text" />
      </label>
      <fieldset class="b-stances">
        <legend class="b-visually-hidden">{bt("reply_f")}</legend>
        <label class="b-choice">
          <input type="radio" name={`pub-${message}`} required checked={open === true} onChange={() => setOpen(true)} data-testid="reply-public" />
          {bt("reply_public")}
        </label>
        <label class="b-choice">
          <input type="radio" name={`pub-${message}`} required checked={open === false} onChange={() => setOpen(false)} data-testid="reply-private" />
          {bt("reply_private_opt")}
        </label>
      </fieldset>
      <Problem code={problem} testid="reply-problem" />
      <button type="submit" class="b-primary b-wide" data-testid="reply-send">
        {bt("reply_send")}
      </button>
    </form>
  );
}
