//! The room engine's tests, one file per part, and the helpers they share: a room with
//! people in it, and a clock.

#![allow(clippy::unwrap_used)]

mod attendance;
mod feed;
mod floor;
mod live;
mod polls;
mod session;
mod talk;

use yishi_protocol::{
    Base, Command, EntryKind, Majority, MajorityRule, Millis, Participant, PollMethod, PollSpec,
    RequestId, ResultsVisibility, Role,
};

use super::{Actor, Applied, Rejection, Room};

/// A room in session with a host, three members in two sectors, a respondent, a venue,
/// an observer, a recorder and an audience member, all present.
pub(crate) struct Fixture {
    pub room: Room,
    pub now: Millis,
    next_req: u32,
    pub host: Actor,
    pub m1: Actor,
    pub m2: Actor,
    pub m3: Actor,
    pub respondent: Actor,
    pub venue: Actor,
    pub observer: Actor,
    pub recorder: Actor,
    pub audience: Actor,
}

impl Fixture {
    pub fn new() -> Fixture {
        let mut f = Fixture {
            room: Room::new("测试协商会"),
            now: Millis(1_700_000_000_000),
            next_req: 0,
            host: Actor::new(Participant::new("host", "主持人", Role::Host)),
            m1: Actor::new(
                Participant::new("m1", "张三", Role::Member)
                    .with_sector("经济界")
                    .with_venue("主会场"),
            ),
            m2: Actor::new(
                Participant::new("m2", "李四", Role::Member)
                    .with_sector("经济界")
                    .with_venue("东区"),
            ),
            m3: Actor::new(
                Participant::new("m3", "王五", Role::Member)
                    .with_sector("教育界")
                    .with_venue("主会场"),
            ),
            respondent: Actor::new(Participant::new("r1", "民政局局长", Role::Respondent)),
            venue: Actor::new(Participant::new("v1", "东区分会场", Role::Venue).with_venue("东区")),
            observer: Actor::new(Participant::new("o1", "列席", Role::Observer)),
            recorder: Actor::new(Participant::new("rec", "记录员", Role::Recorder)),
            audience: Actor::new(Participant::new("a1", "网民甲", Role::Audience)),
        };
        for a in [
            &f.host,
            &f.m1,
            &f.m2,
            &f.m3,
            &f.respondent,
            &f.venue,
            &f.observer,
            &f.recorder,
            &f.audience,
        ] {
            let p = a.participant.clone();
            f.room.join(&p, f.now);
        }
        f.ok(&f.host.clone(), Command::StartSession);
        f
    }

    /// Move the clock forward and run the room's deadlines.
    pub fn advance(&mut self, ms: u64) -> Applied {
        self.now = self.now.plus(ms);
        self.room.tick(self.now)
    }

    pub fn try_cmd(&mut self, actor: &Actor, command: Command) -> Result<Applied, Rejection> {
        self.next_req += 1;
        let req = RequestId(format!("r{}", self.next_req));
        let ticked = self.room.tick(self.now);
        assert!(
            ticked.events.is_empty(),
            "advance() runs deadlines before commands"
        );
        self.room.apply(actor, &req, &command, self.now)
    }

    /// Apply a command that must succeed.
    pub fn ok(&mut self, actor: &Actor, command: Command) -> Applied {
        let name = command.name();
        self.try_cmd(actor, command)
            .unwrap_or_else(|e| panic!("{name} refused: {e}"))
    }

    /// Apply a command that must be refused, and return the refusal.
    pub fn refused(&mut self, actor: &Actor, command: Command) -> Rejection {
        let name = command.name();
        match self.try_cmd(actor, command) {
            Ok(a) => panic!("{name} was accepted: {:?}", a.events),
            Err(e) => e,
        }
    }
}

/// Ask for the floor with an entry of `kind`, for oneself.
pub(crate) fn request(kind: EntryKind) -> Command {
    Command::RequestFloor {
        kind,
        speaker: None,
        replying_to: None,
    }
}

/// Give the floor to whoever is next.
pub(crate) fn grant_next() -> Command {
    Command::GrantFloor {
        entry: None,
        reason: None,
    }
}

/// A binding, named poll decided by a simple majority of the ballots cast, its results
/// shown after the close.
pub(crate) fn poll_spec(method: PollMethod) -> PollSpec {
    PollSpec {
        question: "  是否同意养老服务提案？ ".into(),
        method,
        binding: true,
        advisory: false,
        secret: false,
        visibility: ResultsVisibility::AfterClose,
        allow_change: false,
        deadline_s: None,
        quorum: None,
        majority: Majority {
            rule: MajorityRule::Simple,
            of: Base::Cast,
        },
    }
}
