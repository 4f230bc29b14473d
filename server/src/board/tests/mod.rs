//! The board's tests, one file per part, and the helpers they share: a board with
//! residents, a member and staff, and a clock.

#![allow(clippy::unwrap_used)]

mod comments;
mod duty;
mod live;
mod outcomes;
mod properties;
mod search;
mod studio;
mod supports;
mod topics;
mod workflow;

use yishi_protocol::Millis;

use super::*;
use crate::staff::StaffRole;

pub(crate) fn resident(n: u32) -> Actor {
    Actor::Resident {
        identity: Identity(format!("res-{n}")),
        name: format!("居民{n}"),
        verified: false,
    }
}

pub(crate) fn member() -> Actor {
    Actor::Member {
        identity: Identity::new("m-1"),
        name: "张委员".into(),
    }
}

pub(crate) fn staff() -> Actor {
    Actor::Staff {
        name: "clerk".into(),
        role: StaffRole::Clerk,
    }
}

pub(crate) struct Fixture {
    pub board: Board,
    pub now: Millis,
    /// Every event so far, for replay checks.
    pub record: Vec<Event>,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            board: Board::new(),
            now: Millis(1_765_000_000_000),
            record: Vec::new(),
        }
    }

    pub fn try_cmd(&mut self, actor: &Actor, command: Command) -> Result<Vec<Event>, Rejection> {
        self.now = self.now.plus(1_000);
        let before = self.board.clone();
        let result = self.board.apply(actor, &command, self.now);
        match &result {
            Ok(events) => self.record.extend(events.iter().cloned()),
            Err(_) => assert_eq!(self.board, before, "a refusal changes nothing"),
        }
        result
    }

    pub fn ok(&mut self, actor: &Actor, command: Command) -> Vec<Event> {
        let name = command.name();
        self.try_cmd(actor, command)
            .unwrap_or_else(|e| panic!("{name} refused: {e}"))
    }

    pub fn refused(&mut self, actor: &Actor, command: Command) -> ErrorCode {
        let name = command.name();
        match self.try_cmd(actor, command) {
            Ok(events) => panic!("{name} was accepted: {events:?}"),
            Err(e) => e.code,
        }
    }

    /// Submit a topic as `actor`; its id.
    pub fn submit(&mut self, actor: &Actor, title: &str) -> TopicId {
        let events = self.ok(
            actor,
            Command::SubmitTopic(SubmitTopic {
                title: title.into(),
                text: format!("{title}的详细说明"),
                area: "东城街道".into(),
                category: "交通".into(),
            }),
        );
        match &events[0].body {
            EventBody::TopicSubmitted { topic } => topic.id,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A resident's topic, published by staff.
    pub fn published(&mut self, title: &str) -> TopicId {
        let id = self.submit(&resident(1), title);
        self.ok(
            &staff(),
            Command::ModerateTopic(ModerateTopic {
                topic: id,
                decision: Decision::Publish,
            }),
        );
        id
    }

    pub fn support(&mut self, actor: &Actor, topic: TopicId) -> Result<Vec<Event>, Rejection> {
        self.try_cmd(actor, Command::Support(Support { topic }))
    }

    pub fn advance(&mut self, topic: TopicId, to: Stage) {
        self.ok(
            &staff(),
            Command::AdvanceStage(AdvanceStage {
                topic,
                to,
                note: format!("进入{}", to.as_str()),
            }),
        );
    }

    pub fn replayed(&self) -> Board {
        Board::replay(&self.record)
    }
}
