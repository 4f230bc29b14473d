//! The room engine: every rule of a consultation, pure and deterministic.
//!
//! `Room::apply(actor, req, command, now)` checks a command against the actor's grants and
//! the rules and returns the events it causes, or a [`Rejection`]; `Room::tick(now)` returns
//! the events the room's clocks cause by then (warnings, hard stops, poll deadlines, grace
//! windows) and [`Room::next_deadline`] says when to call it next.
//!
//! State changes only by folding events ([`Room::fold`]): a command is decided, its events
//! are emitted one by one, and each is folded as it is emitted. Replaying a record through
//! `fold` therefore rebuilds the room exactly.
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
    Command, ErrorCode, Event, EventBody, Millis, Participant, ParticipantId, RequestId, Seq,
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

/// The emission context of one command or tick: who acts, when, and where events go.
pub(crate) struct Cx<'a> {
    pub actor: Option<&'a Actor>,
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
        let mut cx = Cx {
            actor: Some(actor),
            now: now.max(self.last_at),
            out: &mut out,
        };
        let before = self.queue_before(Some(command));
        self.decide(&mut cx, req, command)?;
        self.tell_queue_order(&mut cx, before);
        Ok(out)
    }

    /// Everything the room's clocks cause by `now`, in the order it is due.
    pub fn tick(&mut self, now: Millis) -> Applied {
        let mut out = Applied::default();
        let before = self
            .next_deadline()
            .filter(|d| *d <= now)
            .and_then(|_| self.queue_before(None));
        while let Some(due) = self.next_deadline().filter(|d| *d <= now) {
            let mut cx = Cx {
                actor: None,
                now: due.max(self.last_at),
                out: &mut out,
            };
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
        let mut cx = Cx {
            actor: None,
            now: now.max(self.last_at),
            out: &mut out,
        };
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
    /// audience is counted by the hub, not recorded here.
    pub fn join(&mut self, participant: &Participant, now: Millis) -> Applied {
        let mut out = Applied::default();
        let mut cx = Cx {
            actor: None,
            now: now.max(self.last_at),
            out: &mut out,
        };
        self.attendance_join(&mut cx, participant);
        out
    }

    /// A participant's last connection left.
    pub fn leave(&mut self, participant: &ParticipantId, now: Millis) -> Applied {
        let mut out = Applied::default();
        let mut cx = Cx {
            actor: None,
            now: now.max(self.last_at),
            out: &mut out,
        };
        let before = self.queue_before(None);
        self.attendance_leave(&mut cx, participant);
        self.tell_queue_order(&mut cx, before);
        out
    }

    /// Number, stamp and fold one event, and hand it to the caller.
    pub(crate) fn emit(&mut self, cx: &mut Cx, body: EventBody) {
        let event = Event {
            seq: self.seq + 1,
            at: cx.now,
            actor: cx.actor.map(|a| a.id().clone()),
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

    fn decide(&mut self, cx: &mut Cx, req: &RequestId, command: &Command) -> Result<(), Rejection> {
        if self.session.is_closed() {
            return reject(
                ErrorCode::RoomClosed,
                "the session is closed; its record is read-only",
            );
        }
        use Command::*;
        match command {
            OpenCheckIn
            | StartSession
            | PauseSession
            | ResumeSession
            | CloseSession
            | AddAgendaItem { .. }
            | SetCurrentItem { .. }
            | UpdateSettings { .. } => self.session_command(cx, command),
            CheckIn { .. } => self.attendance_command(cx, command),
            RequestFloor { .. }
            | Withdraw { .. }
            | AddEntry { .. }
            | MoveEntry { .. }
            | RemoveEntry { .. }
            | GrantFloor { .. }
            | EndTurn
            | PauseTurn
            | ResumeTurn
            | ExtendTurn { .. }
            | ShortenTurn { .. }
            | ShortenAll { .. }
            | SetOrdering { .. }
            | SetFloorMode { .. } => self.floor_command(cx, command),
            CreatePoll { .. }
            | UpdatePoll { .. }
            | OpenPoll { .. }
            | ClosePoll { .. }
            | PublishPoll { .. }
            | ResetPoll { .. }
            | CastBallot { .. } => self.poll_command(cx, req, command),
            SendChat { .. }
            | PostComment { .. }
            | ModerateComment { .. }
            | AskQuestion { .. }
            | ModerateQuestion { .. }
            | Upvote { .. }
            | MarkAnswered { .. }
            | ForwardQuestion { .. }
            | MergeQuestion { .. }
            | PinQuestion { .. }
            | SetWordList { .. }
            | Annotate { .. } => self.talk_command(cx, command),
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
