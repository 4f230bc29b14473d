//! The room engine: every rule of a consultation, pure and deterministic.
//!
//! `Room::apply(actor, req, command, now)` checks a command against the actor's grants and
//! the rules and returns the events it causes, or a [`Rejection`]; `Room::tick(now)` returns
//! the events the room's clocks cause by then (warnings, hard stops, poll deadlines, grace
//! windows) and [`Room::next_deadline`] says when to call it next.
//!
//! One match dispatches each command to one function of its part (`session`, `attendance`,
//! `floor`, `polls`, `talk`), with the actor passed in. What is not an actor's command has
//! its own path: the clock ([`Room::tick`]), arrivals and departures ([`Room::join`],
//! [`Room::leave`]) and the facts the server reports ([`Room::livestream`],
//! [`Room::void_unsealed`]); their events are recorded without an actor, as the record has
//! always had them.
//!
//! State changes only by folding events ([`Room::fold`]): a command is decided, its events
//! are emitted one by one, and each is folded as it is emitted. Replaying a record through
//! `fold` therefore rebuilds the room exactly.
//!
//! Each part's tests live in a sibling file under `tests/`, sharing the fixture of
//! `tests.rs`.
//!
//! This module must never do I/O, read a clock, spawn, lock or allocate randomness: time
//! is an argument and everything else is the caller's.

mod actor;
mod attendance;
mod feed;
mod floor;
mod live;
mod polls;
mod record;
mod session;
mod talk;
mod text;
mod view;

#[cfg(test)]
mod tests;

use yishi_protocol::{
    Command, Comment, ErrorCode, Event, EventBody, Millis, Participant, ParticipantId, Question,
    RequestId, Seq,
};

pub use actor::{Actor, Grants};
pub use live::LiveFact;
pub use polls::SealedBallot;
pub use record::{Chain, ChainError, GENESIS, verify_chain, verify_links};

use attendance::Roster;
use floor::Floor;
use polls::Polls;
use session::Session;
use talk::Talk;

/// Why a command was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// Shorthand for a refusal.
pub(crate) fn reject<T>(code: ErrorCode, message: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::new(code, message))
}

/// What applying a command (or a tick) produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    /// The events, numbered, already folded into the room.
    pub events: Vec<Event>,
    /// Secret ballots for the sealed ballot box: stored apart from the record, without
    /// voter and in no order that reveals one.
    pub sealed: Vec<SealedBallot>,
    /// The command was a retry of one already applied; this is the sequence number its
    /// acknowledgement carried.
    pub duplicate_of: Option<Seq>,
}

impl Applied {
    /// The sequence number to acknowledge: the last event, or the original one for a retry.
    pub fn ack_seq(&self) -> Option<Seq> {
        self.events.last().map(|e| e.seq).or(self.duplicate_of)
    }
}

/// The emission context of one command or tick: when, in whose name the events are
/// recorded, and where they go. Who may act is checked with the [`Actor`] the command
/// functions are given, never with this.
pub(crate) struct Cx<'a> {
    /// The events' recorded actor (`Event.actor`): the participant whose command or
    /// request caused them; `None` for the room's own events (its clocks, arrivals and
    /// departures, facts the server reports on its own).
    pub by: Option<&'a ParticipantId>,
    pub now: Millis,
    pub out: &'a mut Applied,
}

/// A consultation room: its state, the fold of its events so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// Sequence number of the last event folded.
    seq: Seq,
    /// Time of the last event folded; time never goes back inside a room.
    last_at: Millis,
    pub(crate) session: Session,
    pub(crate) roster: Roster,
    pub(crate) floor: Floor,
    pub(crate) polls: Polls,
    pub(crate) talk: Talk,
    /// The recent public events the live text feed (图文直播) is made of, oldest first.
    pub(crate) feed: std::collections::VecDeque<Event>,
    /// The livestream while it is on.
    pub(crate) live: Option<yishi_protocol::Livestream>,
}

impl Room {
    /// An empty room, before its first event.
    pub fn new(title: impl Into<String>) -> Room {
        Room {
            seq: 0,
            last_at: Millis(0),
            session: Session::new(title.into()),
            roster: Roster::default(),
            floor: Floor::default(),
            polls: Polls::default(),
            talk: Talk::default(),
            feed: Default::default(),
            live: None,
        }
    }

    /// Rebuild a room from its record (and, for open secret polls, the sealed ballot box).
    pub fn replay<'e>(
        title: impl Into<String>,
        events: impl IntoIterator<Item = &'e Event>,
        sealed: &[SealedBallot],
    ) -> Room {
        let mut room = Room::new(title);
        for event in events {
            room.fold(event);
        }
        for ballot in sealed {
            room.unseal(ballot);
        }
        room
    }

    /// Sequence number of the last event.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// Time of the last event.
    pub fn last_at(&self) -> Millis {
        self.last_at
    }

    pub fn title(&self) -> &str {
        &self.session.title
    }

    /// Decide a command from `actor` with request id `req`, at `now`. Call [`Room::tick`]
    /// with the same `now` first, so deadlines due by then come before the command. A
    /// refused command changes nothing.
    pub fn apply(
        &mut self,
        actor: &Actor,
        req: &RequestId,
        command: &Command,
        now: Millis,
    ) -> Result<Applied, Rejection> {
        debug_assert!(
            self.next_deadline().is_none_or(|d| d > now),
            "tick(now) must run before apply(now)"
        );
        let mut out = Applied::default();
        let mut cx = self.cx(Some(actor.id()), now, &mut out);
        let before = self.queue_before(Some(command));
        self.decide(&mut cx, actor, req, command)?;
        self.tell_queue_order(&mut cx, before);
        Ok(out)
    }

    /// Everything the room's clocks cause by `now`, in the order it is due. The clock is
    /// nobody's command: its events are recorded without an actor.
    pub fn tick(&mut self, now: Millis) -> Applied {
        let mut out = Applied::default();
        let before = self
            .next_deadline()
            .filter(|d| *d <= now)
            .and_then(|_| self.queue_before(None));
        while let Some(due) = self.next_deadline().filter(|d| *d <= now) {
            let mut cx = self.cx(None, due, &mut out);
            let before = cx.out.events.len();
            self.floor_due(&mut cx);
            self.polls_due(&mut cx);
            if cx.out.events.len() == before {
                // A deadline that causes nothing would spin forever: that is a bug in the
                // deadline bookkeeping, never the caller's fault.
                debug_assert!(false, "deadline {due:?} fired without an event");
                break;
            }
        }
        let mut cx = self.cx(None, now, &mut out);
        self.tell_queue_order(&mut cx, before);
        out
    }

    /// When [`Room::tick`] has something to do next.
    pub fn next_deadline(&self) -> Option<Millis> {
        [self.floor_deadline(), self.polls_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// A participant's first connection arrived (the hub counts connections). The
    /// audience is counted by the hub, not recorded here. An arrival is the hub's report,
    /// not a command: its events are recorded without an actor.
    pub fn join(&mut self, participant: &Participant, now: Millis) -> Applied {
        let mut out = Applied::default();
        let mut cx = self.cx(None, now, &mut out);
        self.attendance_join(&mut cx, participant);
        out
    }

    /// A participant's last connection left (recorded without an actor, like a join).
    pub fn leave(&mut self, participant: &ParticipantId, now: Millis) -> Applied {
        let mut out = Applied::default();
        let mut cx = self.cx(None, now, &mut out);
        let before = self.queue_before(None);
        self.attendance_leave(&mut cx, participant);
        self.tell_queue_order(&mut cx, before);
        out
    }

    /// The context of a decision recorded in the name of `by` (or of the room itself, with
    /// `None`) at `now`; time never goes back inside a room.
    pub(crate) fn cx<'a>(
        &self,
        by: Option<&'a ParticipantId>,
        now: Millis,
        out: &'a mut Applied,
    ) -> Cx<'a> {
        Cx {
            by,
            now: now.max(self.last_at),
            out,
        }
    }

    /// Number, stamp and fold one event, and hand it to the caller.
    pub(crate) fn emit(&mut self, cx: &mut Cx, body: EventBody) {
        let event = Event {
            seq: self.seq + 1,
            at: cx.now,
            actor: cx.by.cloned(),
            body,
        };
        self.fold(&event);
        cx.out.events.push(event);
    }

    /// Fold one event into the state. The only way state changes.
    pub fn fold(&mut self, event: &Event) {
        debug_assert_eq!(event.seq, self.seq + 1, "events must be folded in order");
        self.seq = event.seq;
        self.last_at = self.last_at.max(event.at);
        self.keep_for_feed(event);
        match Part::of(&event.body) {
            Part::Session => self.fold_session(event),
            Part::Attendance => self.fold_attendance(event),
            Part::Floor => self.fold_floor(event),
            Part::Polls => self.fold_poll(event),
            Part::Talk => self.fold_talk(event),
            Part::Live => self.fold_live(event),
        }
    }

    /// The one dispatch: each command to the function of its part that decides it. Every
    /// check comes before the first emit, so a refusal leaves no event behind.
    fn decide(
        &mut self,
        cx: &mut Cx,
        actor: &Actor,
        req: &RequestId,
        command: &Command,
    ) -> Result<(), Rejection> {
        if self.session.is_closed() {
            return reject(
                ErrorCode::RoomClosed,
                "the session is closed; its record is read-only",
            );
        }
        use Command::*;
        match command {
            // session (session.rs)
            OpenCheckIn => self.open_check_in(cx, actor),
            StartSession => self.start_session(cx, actor),
            PauseSession => self.pause_session(cx, actor),
            ResumeSession => self.resume_session(cx, actor),
            CloseSession => self.close_session(cx, actor),
            AddAgendaItem { title, settings } => self.add_agenda_item(cx, actor, title, settings),
            SetCurrentItem { item } => self.set_current_item(cx, actor, *item),
            UpdateSettings { item, patch } => self.update_settings(cx, actor, *item, patch),
            // attendance (attendance.rs)
            CheckIn { head_count } => self.check_in(cx, actor, *head_count),
            // speaking queue and floor (floor.rs)
            RequestFloor {
                kind,
                speaker,
                replying_to,
            } => self.request_floor(cx, actor, *kind, speaker.as_deref(), *replying_to),
            Withdraw { kind } => self.withdraw(cx, actor, *kind),
            AddEntry {
                participant,
                kind,
                speaker,
                position,
                reason,
            } => self.add_entry(
                cx,
                actor,
                participant,
                *kind,
                speaker.as_deref(),
                *position,
                reason,
            ),
            MoveEntry {
                entry,
                position,
                reason,
            } => self.move_entry(cx, actor, *entry, *position, reason),
            RemoveEntry { entry, reason } => self.remove_entry(cx, actor, *entry, reason),
            GrantFloor { entry, reason } => self.grant_floor(cx, actor, *entry, reason.as_deref()),
            EndTurn => self.end_turn(cx, actor),
            PauseTurn => self.pause_turn(cx, actor),
            ResumeTurn => self.resume_turn(cx, actor),
            ExtendTurn { seconds } => self.extend_turn(cx, actor, *seconds),
            ShortenTurn { seconds } => self.shorten_turn(cx, actor, *seconds),
            ShortenAll { limit_s } => self.shorten_all(cx, actor, *limit_s),
            SetOrdering { policy } => self.set_ordering(cx, actor, *policy),
            SetFloorMode { mode } => self.set_floor_mode(cx, actor, *mode),
            // polls (polls.rs)
            CreatePoll { spec } => self.create_poll(cx, actor, spec),
            UpdatePoll { poll, spec } => self.update_poll(cx, actor, *poll, spec),
            OpenPoll { poll } => self.open_poll(cx, actor, *poll),
            ClosePoll { poll } => self.close_poll(cx, actor, *poll),
            PublishPoll { poll } => self.publish_poll(cx, actor, *poll),
            ResetPoll { poll, reason } => self.reset_poll(cx, actor, *poll, reason),
            CastBallot { poll, choice } => self.cast_ballot(cx, actor, req, *poll, choice),
            // chat, comments, questions (talk.rs)
            SendChat { text } => self.send_chat(cx, actor, text),
            PostComment { text } => self.post_comment(cx, actor, text),
            ModerateComment { comment, decision } => {
                self.moderate::<Comment>(cx, actor, *comment, decision)
            }
            AskQuestion { text } => self.ask_question(cx, actor, text),
            ModerateQuestion { question, decision } => {
                self.moderate::<Question>(cx, actor, *question, decision)
            }
            Upvote { question } => self.upvote(cx, actor, *question),
            MarkAnswered { question } => self.mark_answered(cx, actor, *question),
            ForwardQuestion { question, to } => self.forward_question(cx, actor, *question, to),
            MergeQuestion { question, into } => self.merge_question(cx, actor, *question, *into),
            PinQuestion { question, pinned } => self.pin_question(cx, actor, *question, *pinned),
            SetWordList { words } => self.set_word_list(cx, actor, words),
            Annotate { text } => self.annotate(cx, actor, text),
        }
    }
}

/// Which part of the room an event belongs to: the one place that sorts events, for the
/// fold and for the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Session,
    Attendance,
    Floor,
    Polls,
    Talk,
    Live,
}

impl Part {
    pub(crate) fn of(body: &EventBody) -> Part {
        use EventBody::*;
        match body {
            SessionChanged { .. }
            | AgendaItemAdded { .. }
            | CurrentItemChanged { .. }
            | SettingsUpdated { .. } => Part::Session,
            Joined { .. } | Left { .. } | CheckedIn { .. } => Part::Attendance,
            EntryAdded { .. }
            | EntryWithdrawn { .. }
            | EntryRemoved { .. }
            | EntryMoved { .. }
            | EntriesLimited { .. }
            | OrderingChanged { .. }
            | QueueOrdered { .. }
            | TurnStarted { .. }
            | TurnPaused { .. }
            | TurnResumed { .. }
            | TurnLimitChanged { .. }
            | TurnWarned { .. }
            | TurnOverran { .. }
            | TurnEnded { .. }
            | FloorModeChanged { .. } => Part::Floor,
            PollCreated { .. }
            | PollUpdated { .. }
            | PollOpened { .. }
            | BallotCast { .. }
            | BallotsVoided { .. }
            | PollClosed { .. }
            | PollPublished { .. }
            | PollReset { .. } => Part::Polls,
            ChatSent { .. }
            | CommentPosted { .. }
            | CommentApproved { .. }
            | CommentRejected { .. }
            | QuestionAsked { .. }
            | QuestionApproved { .. }
            | QuestionRejected { .. }
            | QuestionUpvoted { .. }
            | QuestionAnswered { .. }
            | QuestionForwarded { .. }
            | QuestionMerged { .. }
            | QuestionPinned { .. }
            | WordListSet { .. }
            | Annotated { .. } => Part::Talk,
            LivestreamStarted { .. }
            | LivestreamStopped { .. }
            | LivestreamGap { .. }
            | RecordingArchived { .. } => Part::Live,
        }
    }
}
